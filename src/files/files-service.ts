/**
 * The FilesService handlers. They validate input, call the store and the upload state machine, and
 * shape responses; every dependency comes in as an argument, so tests can run them in memory, over
 * real HTTP, or with injected faults. Errors other than the client's own are mapped in rpc/error-mapping.ts.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import { FilesService, type File, type UploadContentRequest } from "../../gen/files/v1/files_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FileSchema, UploadSessionSchema } from "../../gen/files/v1/files_pb.js";
import { callLog, countBytes } from "../rpc/call-log.js";
import type { Logger } from "../log.js";
import { authorize, authorizeSession, callerKeyId, mayAccess, type Access } from "../access/access-control.js";
import { BlobMissingError } from "../store/blobs/blob-store.js";
import { recordContentFault } from "../store/postgres/content-faults.js";
import * as files from "../store/postgres/file-rows.js";
import type { FileRow } from "../store/postgres/file-rows.js";
import * as sessions from "../store/postgres/upload-sessions.js";
import type { SessionRow } from "../store/postgres/upload-sessions.js";
import {
  checkBucket,
  checkKey,
  checkPrefix,
  checkMimeType,
  checkSha256,
  checkSize,
  checkUploadId,
} from "./request-validation.js";
import { removeContent } from "./content-removal.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { contentUrl, kBaseUrl, sessionUrl } from "./public-urls.js";
import { receiveUpload, type UploadDeps } from "./upload/receive-upload.js";
import { sessionNotFound } from "./upload/upload-errors.js";

/** What the service needs beyond the upload dependencies. */
export interface FilesServiceDeps extends UploadDeps {
  maxFileSize: number;
  /** Open upload sessions allowed at once, across every server process. */
  maxOpenSessions: number;
  /** Open upload sessions one API key may have at once (so one tenant cannot starve the others). */
  maxOpenSessionsPerKey: number;
  /** Bytes one API key's open sessions may declare and not yet have sent. */
  maxPendingBytesPerKey: number;
}

const defaultPageSize = 100;
const maxPageSize = 1000;

/** Routes for connectNodeAdapter: `(router) => router.service(FilesService, impl)`. */
export function filesRoutes(deps: FilesServiceDeps): (router: ConnectRouter) => void {
  return (router) => router.service(FilesService, createFilesService(deps));
}

/** The FilesService implementation over the given dependencies. */
export function createFilesService(deps: FilesServiceDeps): ServiceImpl<typeof FilesService> {
  const { sql, blobs, hashes, log } = deps;

  return {
    async createUploadSession(req, ctx) {
      const bucket = checkBucket(req.bucket);
      authorize(ctx, "write", bucket);
      const size = checkSize(req.size, deps.maxFileSize);
      const inserted = await sessions.insertSession(
        sql,
        {
          id: randomUUID(),
          bucket,
          key: checkKey(req.key),
          mimeType: checkMimeType(req.mimeType),
          size,
          expectedSha256: hexToBuffer(checkSha256(req.sha256)),
          owner: callerKeyId(ctx),
        },
        deps.sessionTtlSeconds,
        {
          maxOpen: deps.maxOpenSessions,
          maxOpenPerOwner: deps.maxOpenSessionsPerKey,
          maxPendingBytesPerOwner: deps.maxPendingBytesPerKey,
        },
      );
      if ("refused" in inserted) throw sessionLimitReached(inserted.refused, size);
      return { session: toSession(inserted.row, ctx) };
    },

    async uploadContent(requests, ctx) {
      const outcome = await receiveUpload(deps, counted(requests, ctx), (session) => authorizeSession(ctx, session));
      return {
        session: toSession(outcome.session, ctx, outcome.file),
        file: outcome.file && toFile(outcome.file, ctx),
      };
    },

    async getUploadSession(req, ctx) {
      const row = await addressedSession(req.uploadId, ctx);
      const file = row.completedAt ? await files.findFileByBlob(sql, row.id) : undefined;
      return { session: toSession(row, ctx, file) };
    },

    async cancelUploadSession(req, ctx) {
      const found = await addressedSession(req.uploadId, ctx);
      const id = found.id;
      if (found.completedAt) {
        throw new ConnectError(
          `upload session ${id} is complete (it became file ${found.bucket}/${found.key}); delete the file instead`,
          Code.FailedPrecondition,
        );
      }
      const row = await sessions.discardSession(sql, id);
      if (!row) throw sessionNotFound(id);
      hashes.drop(id);
      // A writer still running on it fails its next commit. Its partial content goes before the
      // answer: a cancel is rare, and its caller may be freeing room for another upload.
      await removeContent(deps, [id]);
      return { session: toSession(row, ctx) };
    },

    async listBuckets(_req, ctx) {
      // Only the buckets this caller may read: the others are not its business.
      const names = (await files.listBuckets(sql)).filter((name) => mayAccess(ctx, "read", name));
      return { data: names.map((name) => ({ name })) };
    },

    async listFiles(req, ctx) {
      const bucket = checkBucket(req.bucket);
      authorize(ctx, "read", bucket);
      const prefix = checkPrefix(req.prefix);
      if (req.pageSize < 0)
        throw new ConnectError(
          `page_size ${req.pageSize} is invalid: expected 0 (default ${defaultPageSize}) to ${maxPageSize}`,
          Code.InvalidArgument,
        );
      const pageSize = Math.min(req.pageSize || defaultPageSize, maxPageSize);
      const after = req.pageToken === "" ? "" : decodePageToken(req.pageToken, bucket, prefix).after;
      // One row more than the page tells whether there is a next page.
      const rows = await files.listFiles(sql, bucket, { prefix, after, limit: pageSize + 1 });
      const page = rows.slice(0, pageSize);
      const nextPageToken =
        rows.length > pageSize ? encodePageToken({ bucket, prefix, after: page[page.length - 1].key }) : "";
      return { data: page.map((row) => toFile(row, ctx)), nextPageToken };
    },

    async getFile(req, ctx) {
      return { file: toFile(await storedFile(req, ctx), ctx) };
    },

    async deleteFile(req, ctx) {
      const { bucket, key } = addressedFile(req, ctx, "write");
      const row = await files.deleteFile(sql, bucket, key);
      if (!row) throw fileNotFound(bucket, key);
      // The row is gone, so the file is deleted for every reader; the content goes right after the
      // answer, or with the sweep if removing it fails.
      deps.removals.remove([row.blobId]);
      return { file: toFile(row, ctx) };
    },

    async *downloadFile(req, ctx) {
      const row = await storedFile(req, ctx);
      const { bucket, key } = row;
      if (req.offset < 0n || req.offset > BigInt(row.bytes)) {
        throw new ConnectError(`offset ${req.offset} is outside the file (0 to ${row.bytes})`, Code.OutOfRange);
      }
      if (req.limit < 0n)
        throw new ConnectError(`limit ${req.limit} is invalid: expected 0 (to the end) or more`, Code.InvalidArgument);
      const start = Number(req.offset);
      const end = req.limit === 0n || req.limit >= BigInt(row.bytes - start) ? row.bytes : start + Number(req.limit);
      // Before the info goes out (over REST: before the status line), so a client never gets a
      // success followed by a broken or short body.
      await checkContent(row, callLog(ctx, log));
      yield { part: { case: "info", value: toFile(row, ctx) } };
      let sent = start;
      try {
        for await (const chunk of blobs.read(row.blobId, start, end)) {
          sent += chunk.byteLength;
          countBytes(ctx, "out", chunk.byteLength);
          yield { part: { case: "data", value: chunk } };
        }
      } catch (err) {
        // Replaced or deleted while we were about to read it: the version asked for is gone.
        if (err instanceof BlobMissingError)
          throw new ConnectError(`file ${bucket}/${key} was replaced or deleted during the download`, Code.NotFound);
        throw err;
      }
      if (sent !== end) throw new BlobMissingError(`part of the content of ${bucket}/${key} (${end - sent} bytes)`);
    },
  };

  /** The live session a call names, once the caller may write it. */
  async function addressedSession(uploadId: string, ctx: HandlerContext): Promise<SessionRow> {
    const id = checkUploadId(uploadId);
    const row = await sessions.findSession(sql, id);
    if (!row) throw sessionNotFound(id);
    authorizeSession(ctx, row);
    return row;
  }

  /** The stored file a read names, once the caller may read its bucket. */
  async function storedFile(req: { bucket: string; key: string }, ctx: HandlerContext): Promise<FileRow> {
    const { bucket, key } = addressedFile(req, ctx, "read");
    const row = await files.findFile(sql, bucket, key);
    if (!row) throw fileNotFound(bucket, key);
    return row;
  }

  /** Which limit a refused create reached, in words the caller can act on. */
  function sessionLimitReached(usage: sessions.OpenUsage, size: number): ConnectError {
    const message =
      usage.open >= deps.maxOpenSessions
        ? `too many open upload sessions (at most ${deps.maxOpenSessions}); finish or cancel some, or retry later`
        : usage.ownerOpen >= deps.maxOpenSessionsPerKey
          ? `this API key has ${usage.ownerOpen} open upload sessions (at most ${deps.maxOpenSessionsPerKey} per key); finish or cancel some, or retry later`
          : `this API key's open upload sessions await ${usage.ownerPending} bytes; ${size} more would pass its limit of ${deps.maxPendingBytesPerKey} bytes not yet uploaded; finish or cancel some, or retry later`;
    return new ConnectError(message, Code.ResourceExhausted);
  }

  /**
   * Throws unless the file's content is there at its full size: NOT_FOUND when the file was
   * replaced or deleted meanwhile (its old content may rightly be gone), else DATA_LOSS, logged and
   * recorded for `npm run fsck`.
   */
  async function checkContent(row: FileRow, log: Logger): Promise<void> {
    const size = await blobs.size(row.blobId);
    if (size === row.bytes) return;
    if ((await files.findFile(sql, row.bucket, row.key))?.blobId !== row.blobId)
      throw fileNotFound(row.bucket, row.key);
    const problem = size === undefined ? "content missing" : `content has ${size} of ${row.bytes} bytes`;
    log.error("stored content is damaged", { bucket: row.bucket, key: row.key, blobId: row.blobId, problem });
    await recordContentFault(sql, row, problem).catch((err) =>
      log.warn("could not record a content fault", { blobId: row.blobId, err: err }),
    );
    throw new ConnectError(
      `the content of file ${row.bucket}/${row.key} is ${size === undefined ? "missing" : "damaged"} on the server (${problem}); the operator has been told`,
      Code.DataLoss,
    );
  }
}

/** The request's messages, counting the content bytes they bring (for the call's log line). */
async function* counted(
  requests: AsyncIterable<UploadContentRequest>,
  ctx: HandlerContext,
): AsyncIterable<UploadContentRequest> {
  for await (const message of requests) {
    countBytes(ctx, "in", message.data.byteLength);
    yield message;
  }
}

function toSession(row: SessionRow, ctx: HandlerContext, file?: FileRow): MessageInitShape<typeof UploadSessionSchema> {
  return {
    id: row.id,
    url: sessionUrl(ctx.values.get(kBaseUrl), row.id),
    offset: BigInt(row.committedOffset),
    size: BigInt(row.size),
    bucket: row.bucket,
    key: row.key,
    mimeType: row.mimeType,
    expiresAt: BigInt(unixSeconds(row.expiresAt)),
    complete: row.completedAt !== null,
    file: file && toFile(file, ctx),
  };
}

function toFile(row: FileRow, ctx: HandlerContext): MessageInitShape<typeof FileSchema> & Partial<File> {
  return {
    bucket: row.bucket,
    key: row.key,
    mimeType: row.mimeType,
    url: contentUrl(ctx.values.get(kBaseUrl), row.bucket, row.key),
    bytes: BigInt(row.bytes),
    createdAt: BigInt(unixSeconds(row.createdAt)),
    sha256: row.sha256.toString("hex"),
  };
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function hexToBuffer(hex: string | undefined): Buffer | null {
  return hex === undefined ? null : Buffer.from(hex, "hex");
}

function notFound(message: string): ConnectError {
  return new ConnectError(message, Code.NotFound);
}

/** The valid bucket and key a call names, once the caller may `access` the bucket (decided before any lookup). */
function addressedFile(
  req: { bucket: string; key: string },
  ctx: HandlerContext,
  access: Access,
): { bucket: string; key: string } {
  const [bucket, key] = [checkBucket(req.bucket), checkKey(req.key)];
  authorize(ctx, access, bucket);
  return { bucket, key };
}

function fileNotFound(bucket: string, key: string): ConnectError {
  return notFound(`file ${bucket}/${key} not found`);
}
