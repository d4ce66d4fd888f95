/**
 * Resumable Uploads for HTTP, draft-ietf-httpbis-resumable-upload-11 (interop version 8), on
 * FilesService's upload sessions: the upload resource *is* a session (the same id).
 *
 *   POST    /resumable/{bucket}/{key…}   creation: any request with Upload-Complete; the file's type
 *                                        is the Content-Type; a 104 tells the upload's Location
 *   HEAD    /resumable/session:{id}      Upload-Offset, Upload-Complete, Upload-Length, Upload-Limit
 *   PATCH   /resumable/session:{id}      appends application/partial-upload at Upload-Offset
 *   DELETE  /resumable/session:{id}      cancels
 *   OPTIONS /resumable/…                 Accept-Patch and Upload-Limit
 *
 * The upload completes only with a request that says `Upload-Complete: ?1` (the session defers its
 * completion until then), answered 200 with the file as GET /v1/files/{bucket}/{key} shows it. A
 * session needs its length when it is created: from Upload-Length, or from Content-Length with
 * `?1`. Lengths are checked against each other before a byte is written, so the offset never
 * passes the length.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { FileSchema, FilesService, type UploadSession } from "../../../gen/files/v1/files_pb.js";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../../files/error-reasons.js";
import { abortResponse, messageToRestJson, stringifyRestJson } from "../../transcoding/index.js";
import type { NodeRequest, NodeResponse } from "../../transcoding/index.js";
import { type Exchange, type ResumableOptions, serveExchange } from "../http-exchange.js";
import { booleanField, integerField, uploadLimit } from "./draft-fields.js";
import { createInFlightAppends, type InFlightAppends } from "./in-flight.js";
import { sendUploadResumptionSupported } from "./interim-response.js";
import {
  completedUpload,
  inconsistentLength,
  mismatchingOffset,
  plainProblem,
  problemOf,
  type UploadProblem,
} from "./upload-problems.js";

/** Where the draft is served. */
export const draftPath = "/resumable/";
const uploadPrefix = `${draftPath}session:`;
const interopVersion = "8";
const partialUpload = "application/partial-upload";

/** A problem to answer, thrown from within a request. */
class ProblemAnswer extends Error {
  constructor(readonly problem: UploadProblem) {
    super(String(problem.body.title));
  }
}

/** A handler for the draft's requests under `/resumable/` (answering true); others are left (false). */
export function createDraftHandler(options: ResumableOptions): (req: NodeRequest, res: NodeResponse) => boolean {
  const inFlight = createInFlightAppends();
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (!path.startsWith(draftPath)) return false;
    serveExchange(options, req, res, (exchange) => serve(options, inFlight, exchange, path), fail);
    return true;
  };
}

async function serve(options: ResumableOptions, inFlight: InFlightAppends, exchange: Exchange, path: string) {
  const method = exchange.req.method ?? "GET";
  const limit = uploadLimit({ maxSize: options.maxFileSize });
  if (method === "OPTIONS") return answer(exchange, 204, { "accept-patch": partialUpload, "upload-limit": limit });
  if (path.startsWith(uploadPrefix)) {
    const id = pathPart(path.slice(uploadPrefix.length), Code.NotFound);
    if (method === "HEAD") return head(options, inFlight, exchange, id);
    if (method === "PATCH") return append(options, inFlight, exchange, id);
    if (method === "DELETE") {
      // A request still writing the upload fails its next commit; its content goes with the session.
      await exchange.calls.cancel(id);
      return answer(exchange, 204, {});
    }
    throw notAllowed(method, "HEAD, PATCH, DELETE, OPTIONS");
  }
  if (method !== "POST") throw notAllowed(method, "POST, OPTIONS");
  const slash = path.indexOf("/", draftPath.length);
  if (slash < 0) throw new ConnectError(`${path}: name the file as /resumable/{bucket}/{key}`, Code.NotFound);
  const bucket = pathPart(path.slice(draftPath.length, slash), Code.InvalidArgument);
  const key = pathPart(path.slice(slash + 1), Code.InvalidArgument);
  return create(options, inFlight, exchange, bucket, key, limit);
}

async function create(
  options: ResumableOptions,
  inFlight: InFlightAppends,
  exchange: Exchange,
  bucket: string,
  key: string,
  limit: string,
) {
  const complete = booleanField(exchange.header("upload-complete"));
  if (complete === undefined)
    throw new ProblemAnswer(plainProblem(400, "Upload-Complete (?1 or ?0) is required to create a resumable upload"));
  const declared = integerField(exchange.header("upload-length"));
  const contentLength = integerField(exchange.header("content-length"));
  if (complete && declared !== undefined && contentLength !== undefined && declared !== contentLength)
    throw new ProblemAnswer(
      inconsistentLength(`Upload-Length ${declared} and Content-Length ${contentLength} of a complete upload differ`),
    );
  const length = declared ?? (complete ? contentLength : undefined);
  if (length === undefined) {
    const problem = plainProblem(
      400,
      "the upload's length is required: send Upload-Length, or Content-Length with Upload-Complete: ?1",
    );
    problem.headers["upload-limit"] = limit;
    throw new ProblemAnswer(problem);
  }
  if (contentLength !== undefined && contentLength > length)
    throw new ProblemAnswer(inconsistentLength(`Content-Length ${contentLength} is past Upload-Length ${length}`));
  options.checkBeforeBody?.(FilesService.method.createUploadSession, exchange.header);
  const session = await exchange.calls.create({
    bucket,
    key,
    mimeType: exchange.header("content-type") || "application/octet-stream",
    size: BigInt(length),
  });
  const location = `${exchange.baseUrl}${uploadPrefix}${session.id}`;
  if (exchange.header("upload-draft-interop-version") === interopVersion)
    sendUploadResumptionSupported(exchange.res, {
      location,
      "upload-limit": limit,
      "upload-draft-interop-version": interopVersion,
    });
  exchange.res.setHeader("location", location);
  exchange.res.setHeader("upload-limit", limit);
  const after =
    contentLength === 0 && !complete ? session : await appendBody(inFlight, exchange, session.id, 0, complete);
  return finalAnswer(exchange, after, complete, 201);
}

async function head(options: ResumableOptions, inFlight: InFlightAppends, exchange: Exchange, id: string) {
  let session = await exchange.calls.get(id);
  // A request still appending on this server (its client may be gone unnoticed) is ended first, so
  // that the offset answered is final — by a caller who may read the upload, and no one else.
  if (inFlight.has(id)) {
    await inFlight.settle(id);
    session = await exchange.calls.get(id);
  }
  const maxAgeSeconds = session.complete ? undefined : Number(session.expiresAt) - Date.now() / 1000;
  return answer(exchange, 204, {
    "upload-offset": String(session.offset),
    "upload-complete": session.complete ? "?1" : "?0",
    "upload-length": String(session.size),
    "upload-limit": uploadLimit({ maxSize: options.maxFileSize, maxAgeSeconds }),
    "cache-control": "no-store",
  });
}

async function append(options: ResumableOptions, inFlight: InFlightAppends, exchange: Exchange, id: string) {
  options.checkBeforeBody?.(FilesService.method.uploadContent, exchange.header);
  // The upload's state first (404 before anything else): the length rules are checked before a
  // byte is written.
  const session = await exchange.calls.get(id);
  const type = exchange.header("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== partialUpload) {
    const problem = plainProblem(415, `an append's Content-Type must be ${partialUpload}, not ${type ?? "missing"}`);
    problem.headers["accept-patch"] = partialUpload;
    throw new ProblemAnswer(problem);
  }
  const offset = integerField(exchange.header("upload-offset"));
  const complete = booleanField(exchange.header("upload-complete"));
  if (offset === undefined || complete === undefined)
    throw new ProblemAnswer(plainProblem(400, "an append needs Upload-Offset and Upload-Complete (?1 or ?0)"));
  const size = Number(session.size);
  const contentLength = integerField(exchange.header("content-length"));
  const declared = integerField(exchange.header("upload-length"));
  if (session.complete) {
    if (contentLength === 0) throw new ProblemAnswer(completedUpload());
    throw new ProblemAnswer(inconsistentLength(`the upload is complete at ${size} bytes and takes no more`));
  }
  if (declared !== undefined && declared !== size)
    throw new ProblemAnswer(inconsistentLength(`Upload-Length ${declared} is not the upload's length ${size}`));
  if (offset !== Number(session.offset)) throw new ProblemAnswer(mismatchingOffset(Number(session.offset), offset));
  if (contentLength !== undefined) {
    const end = offset + contentLength;
    if (end > size) throw new ProblemAnswer(inconsistentLength(`the content ends at ${end}, past the length ${size}`));
    if (complete && end !== size)
      throw new ProblemAnswer(inconsistentLength(`Upload-Complete: ?1, but the content ends at ${end}, not ${size}`));
  }
  const after = await appendBody(inFlight, exchange, id, offset, complete);
  return finalAnswer(exchange, after, complete, 204);
}

/**
 * Appends the request's body; the upload completes with it only when the request says `?1`. If
 * another request on this server still holds the upload (its client may be gone unnoticed), that
 * one is ended and the append tried once more: the refusal came after the caller's right to write
 * was checked, and before any of this body was read.
 */
async function appendBody(
  inFlight: InFlightAppends,
  exchange: Exchange,
  id: string,
  offset: number,
  complete: boolean,
) {
  const attempt = () =>
    inFlight.run(
      id,
      () => abortResponse(exchange.res),
      () => exchange.calls.append(id, offset, { deferCompletion: !complete }),
    );
  try {
    return await attempt();
  } catch (err) {
    if (!(isBusy(err) && inFlight.has(id))) throw err;
    await inFlight.settle(id);
    return attempt();
  }
}

function isBusy(err: unknown): boolean {
  return err instanceof ConnectError && err.findDetails(ErrorInfoSchema)[0]?.reason === ErrorReason.UPLOAD_SESSION_BUSY;
}

/** A percent-decoded path segment; one that does not decode is refused with `code`. */
function pathPart(raw: string, code: Code): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ConnectError(`${JSON.stringify(raw.slice(0, 80))} is not a valid percent-encoded path`, code);
  }
}

/** After an append: the file (200) once complete, else where the upload stands (`incomplete`). */
function finalAnswer(exchange: Exchange, session: UploadSession, complete: boolean, incomplete: number) {
  if (complete && session.file) {
    const body = Buffer.from(`${stringifyRestJson(messageToRestJson(FileSchema, session.file))}\n`);
    exchange.res.writeHead(200, {
      "upload-complete": "?1",
      "upload-offset": String(session.offset),
      "content-type": "application/json",
      "content-length": String(body.length),
    });
    exchange.res.end(body);
    return;
  }
  // A body that ended short of a ?1 request's length (no Content-Length said so beforehand): what
  // arrived is kept, and the client learns the offset to go on from.
  if (complete) {
    const problem = inconsistentLength(
      `Upload-Complete: ?1, but the content ended at ${session.offset}, not ${session.size}`,
    );
    problem.headers["upload-offset"] = String(session.offset);
    throw new ProblemAnswer(problem);
  }
  return answer(exchange, incomplete, { "upload-complete": "?0", "upload-offset": String(session.offset) });
}

function answer(exchange: Exchange, status: number, headers: Record<string, string>): void {
  exchange.res.writeHead(status, status === 204 ? headers : { ...headers, "content-length": "0" });
  exchange.res.end();
}

/** Errors as problem details: the draft's own types, else the status the error calls for. */
function fail(exchange: Exchange, reason: unknown): void {
  const { req, res } = exchange;
  const provided = integerField(exchange.header("upload-offset"));
  const problem = reason instanceof ProblemAnswer ? reason.problem : problemOf(ConnectError.from(reason), provided);
  const body = Buffer.from(`${JSON.stringify(problem.body)}\n`);
  const headers: Record<string, string> = {
    ...problem.headers,
    "content-type": "application/problem+json",
    "content-length": String(body.length),
  };
  // A body still arriving will not be read: say so, so that the client stops sending (HTTP/1.1).
  if (req.httpVersionMajor === 1 && !req.complete) headers.connection = "close";
  res.writeHead(problem.status, headers);
  if (req.method === "HEAD") res.end();
  else res.end(body);
}

function notAllowed(method: string, allow: string): ProblemAnswer {
  const problem = plainProblem(405, `${method} is not allowed here; use ${allow}`);
  problem.headers.allow = allow;
  return new ProblemAnswer(problem);
}
