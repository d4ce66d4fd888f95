/**
 * The upload state machine: one request's stream of content appended to an upload session.
 *
 *   lock the session ─▶ open its partial content at the committed offset ─▶ append messages,
 *   fsync + commit the offset every `checkpointBytes` ─▶ at the end: commit; complete if full.
 *
 * What happens when a request goes wrong depends on whose fault it was:
 * - the client's content (offset mismatch, more than the declared size, a changed upload_id): the
 *   request is refused whole — its bytes are cut off and the offset goes back to where it began;
 * - the connection (client gone, stream broken): what arrived is committed, so the upload resumes;
 * - the server (disk or database error): nothing more is committed; the next request truncates
 *   whatever was written past the committed offset.
 * Bytes are always fsynced before the offset that counts them is stored.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Hash } from "node:crypto";
import type { UploadContentRequest } from "../../gen/files/v1/files_pb.js";
import { BlobMissingError, type BlobAppender, type BlobStore } from "../store/blob-store.js";
import type { Sql } from "../store/database.js";
import { completeUpload, findFileByBlob, type FileRow } from "../store/files.js";
import type { SessionLocks } from "../store/session-locks.js";
import { discardSession, findSession, moveOffset, type SessionRow } from "../store/upload-sessions.js";
import type { HashCache } from "./content-hash.js";
import { removeContent } from "./content-removal.js";
import type { Logger } from "../log.js";
import { checkUploadId } from "./names.js";
import { errorWithHttpStatus } from "../transcoding/index.js";

// How far writing may lag behind receiving, in bytes (memory stays bounded by this).
const writeAheadBytes = 8 * 1024 * 1024;

/** What an upload request needs. */
export interface UploadDeps {
  sql: Sql;
  blobs: BlobStore;
  locks: SessionLocks;
  hashes: HashCache;
  log: Logger;
  checkpointBytes: number;
  sessionTtlSeconds: number;
}

/** The session after a request, and the file once the upload is complete. */
export interface UploadOutcome {
  session: SessionRow;
  file?: FileRow;
}

/**
 * Receives one upload request's messages; see the module comment for the rules. `mayWrite` throws
 * when the caller may not write the session's bucket (checked before anything is locked).
 */
export async function receiveUpload(deps: UploadDeps, requests: AsyncIterable<UploadContentRequest>, mayWrite: (session: SessionRow) => void): Promise<UploadOutcome> {
  const messages = requests[Symbol.asyncIterator]();
  const first = await messages.next();
  if (first.done) throw new ConnectError("upload_id is required on the first message", Code.InvalidArgument);
  const uploadId = checkUploadId(first.value.uploadId);
  const found = await findSession(deps.sql, uploadId);
  if (!found) throw sessionNotFound(uploadId);
  mayWrite(found);
  if (found.completedAt) return answerCompleted(deps, found, first.value, messages);

  const lease = await deps.locks.tryAcquire(uploadId);
  if (!lease) {
    throw withOffset(new ConnectError(`upload session ${uploadId} is being written by another request; retry once it ends`, Code.Aborted), found.committedOffset);
  }
  try {
    // Read again under the lock: the previous writer may have moved the offset, or completed it.
    const session = await findSession(deps.sql, uploadId);
    if (!session) throw sessionNotFound(uploadId);
    if (session.completedAt) return await answerCompleted(deps, session, first.value, messages);
    const appender = await deps.blobs.openAppend(uploadId, session.committedOffset);
    try {
      // A cancel does not wait for the lock: it may have ended the session, and removed its content,
      // just before openAppend made the content anew. Look once more, so nothing is left behind.
      if (session.committedOffset === 0 && !(await findSession(deps.sql, uploadId))) {
        await deps.blobs.discardPartial(uploadId);
        throw sessionNotFound(uploadId);
      }
      const running = await deps.hashes.take(uploadId, session.committedOffset, deps.blobs);
      const writer = createSessionWriter(deps, session, appender, running.hash, () => lease.valid);
      await writer.consume(first.value, messages);
      if (writer.session.committedOffset < writer.session.size) return { session: writer.session };
      return await complete(deps, writer.session, running.hash);
    } finally {
      await appender.close();
    }
  } finally {
    await lease.release();
  }
}

/** Appends messages to one locked session and commits its offset. */
function createSessionWriter(deps: UploadDeps, initial: SessionRow, appender: BlobAppender, hash: Hash, leaseValid: () => boolean) {
  const { sql, hashes } = deps;
  const id = initial.id;
  const start = initial.committedOffset;
  const startHash = hash.copy();
  let session = initial;
  let written = start;
  // Writes in flight: receiving the next message overlaps with writing the previous ones.
  const inflight: { done: Promise<void>; bytes: number }[] = [];
  let inflightBytes = 0;
  let writeFailure: unknown;
  // A checkpoint in progress: receiving and writing go on while it fsyncs and stores the offset.
  let checkpointing: Promise<void> | undefined;

  function startWrite(data: Uint8Array): void {
    const done = appender.write(data).catch((err: unknown) => {
      writeFailure ??= err;
    });
    inflight.push({ done, bytes: data.byteLength });
    inflightBytes += data.byteLength;
  }

  /**
   * The lock went with its database connection (an outage, or the connection was cut): another
   * writer may hold the session now, so this one writes and commits nothing more. Transient, like
   * its cause.
   */
  function checkLease(): void {
    if (leaseValid()) return;
    throw withOffset(
      new ConnectError(
        `lost the lock on upload session ${id} with its database connection; nothing past the committed offset ${session.committedOffset} was kept; retry`,
        Code.Unavailable,
      ),
      session.committedOffset,
    );
  }

  function failIfWriteFailed(): void {
    if (writeFailure !== undefined) {
      hashes.drop(id); // it has seen bytes that will be cut off
      throw writeFailure;
    }
  }

  /** Waits until at most `limit` bytes are still being written; throws the first write error. */
  async function settleWrites(limit: number): Promise<void> {
    while (inflightBytes > limit || (limit === 0 && inflight.length > 0)) {
      const oldest = inflight.shift()!;
      await oldest.done;
      inflightBytes -= oldest.bytes;
    }
    failIfWriteFailed();
  }

  /**
   * fsync, then compare-and-set the offset to what was written when it began: the only way an
   * offset ever moves forward. Writes started meanwhile are not counted (fdatasync may well make
   * them durable too; they are counted by the next commit).
   */
  async function commit(): Promise<void> {
    await checkpointing;
    const target = written;
    if (target === session.committedOffset) return;
    checkLease();
    await Promise.all(inflight.map((w) => w.done)); // every write in flight ends at or before target
    failIfWriteFailed();
    await appender.sync();
    checkLease(); // lost while syncing: the compare-and-set below must not be the stale writer's
    const moved = await moveOffset(sql, id, session.committedOffset, target, deps.sessionTtlSeconds);
    if (!moved) throw new ConnectError(`upload session ${id} was cancelled or expired during the upload`, Code.NotFound);
    session = moved;
  }

  /** Starts a commit in the background once a checkpoint's worth is written (one at a time). */
  async function checkpoint(): Promise<void> {
    if (written - session.committedOffset < deps.checkpointBytes) return;
    if (checkpointing) {
      // The previous one is still running: wait for it (its failure surfaces here) before the next.
      await checkpointing;
      if (written - session.committedOffset < deps.checkpointBytes) return;
    }
    const running = commit();
    checkpointing = running;
    // Cleared when it succeeds. A failure stays, to fail everything after it: a failed fsync may
    // have lost the bytes since the last good one, so nothing past that may ever be counted.
    running.then(
      () => {
        if (checkpointing === running) checkpointing = undefined;
      },
      () => undefined,
    );
  }

  /**
   * Refuses the request whole: move the offset back to where it began, then cut its bytes off.
   * The offset goes first because it alone says what counts: bytes past it are cut off by the next
   * request anyway, so a disk that cannot truncate still keeps nothing of the request, and the
   * content is never shorter than the committed offset, not even for a moment.
   */
  async function rollback(): Promise<void> {
    await checkpointing?.catch(() => undefined);
    await settleWrites(0).catch(() => undefined);
    written = start;
    if (session.committedOffset !== start) {
      const moved = await moveOffset(sql, id, session.committedOffset, start, deps.sessionTtlSeconds);
      // Someone else moved the offset (we lost the lock): the content is theirs now, leave it be.
      if (!moved) return;
      session = moved;
    }
    if (!leaseValid()) return;
    hashes.put(id, { hash: startHash, offset: start });
    await appender.truncate(start).catch((err: unknown) => {
      deps.log.warn("could not cut off a refused request's bytes; the next request will", { uploadId: id, error: String(err) });
    });
  }

  function checkMessage(message: UploadContentRequest): void {
    if (message.uploadId !== "" && message.uploadId !== id) {
      throw new ConnectError(`upload_id changed within the request (from ${id} to ${message.uploadId})`, Code.InvalidArgument);
    }
    if (message.offset !== undefined && message.offset !== BigInt(written)) {
      throw withOffset(
        new ConnectError(`offset ${message.offset} does not match the upload's offset ${written}; nothing of this request was kept: resume from offset ${start}`, Code.Aborted),
        start,
      );
    }
    if (written + message.data.byteLength > session.size) {
      throw withOffset(
        errorWithHttpStatus(`content goes past the declared size of ${session.size} bytes; nothing of this request was kept: the committed offset is ${start}`, Code.OutOfRange, 413),
        start,
      );
    }
  }

  return {
    get session() {
      return session;
    },

    /** Appends `first` and every following message, committing on the way and at the end. */
    async consume(first: UploadContentRequest, rest: AsyncIterator<UploadContentRequest>): Promise<void> {
      try {
        await this.append(first, rest);
      } finally {
        // Never leave a write or an fsync running on a handle that is about to close.
        await checkpointing?.catch(() => undefined);
        await Promise.all(inflight.map((w) => w.done));
      }
    },

    async append(first: UploadContentRequest, rest: AsyncIterator<UploadContentRequest>): Promise<void> {
      let message = first;
      for (;;) {
        try {
          checkMessage(message);
        } catch (err) {
          await rollback();
          throw err;
        }
        if (message.data.byteLength > 0) {
          checkLease();
          startWrite(message.data);
          hash.update(message.data);
          written += message.data.byteLength;
          await settleWrites(writeAheadBytes);
          await checkpoint();
        }
        let next: IteratorResult<UploadContentRequest>;
        try {
          next = await rest.next();
        } catch (err) {
          // The client went away mid-stream: keep what arrived so that the upload can resume.
          await commit().then(
            () => hashes.put(id, { hash, offset: written }),
            (commitErr) => deps.log.warn("could not commit an interrupted upload", { uploadId: id, error: String(commitErr) }),
          );
          // A socket error here is the client's connection, not the database's: say so before
          // errors.ts sees a bare errno. Connect's own errors (a message that does not parse) stay.
          if (err instanceof ConnectError) throw err;
          throw new ConnectError("the client went away during the upload", Code.Canceled, undefined, undefined, err);
        }
        if (next.done) break;
        message = next.value;
      }
      await commit();
      if (written < session.size) hashes.put(id, { hash, offset: written });
    },
  };
}

/**
 * Completes a full upload: check the promised checksum, make the content a blob, then in one
 * transaction end the session and make the file visible; only after that commit is the replaced
 * version's content removed.
 */
async function complete(deps: UploadDeps, session: SessionRow, hash: Hash): Promise<UploadOutcome> {
  const { sql, blobs, hashes } = deps;
  hashes.drop(session.id);
  const sha256 = hash.digest();
  if (session.expectedSha256 && !sha256.equals(session.expectedSha256)) {
    if (await discardSession(sql, session.id)) await removeContent(deps, [session.id]);
    throw new ConnectError(
      `content has sha256 ${sha256.toString("hex")}, not the promised ${session.expectedSha256.toString("hex")}; the upload was discarded`,
      Code.DataLoss,
    );
  }
  await blobs.commit(session.id).catch(async (err: unknown) => {
    if (!(err instanceof BlobMissingError)) throw err;
    // Cancelled, or completed by a writer that took over, while this one was completing: the
    // partial content went with it. Not data loss: the session is simply no longer this one's.
    const now = await findSession(sql, session.id);
    if (!now) throw sessionNotFound(session.id);
    if (now.completedAt) throw new ConnectError(`upload session ${session.id} was completed by another request meanwhile; nothing of this request was kept`, Code.Aborted);
    throw err;
  });
  const done = await completeUpload(sql, session, sha256);
  if (!done) throw sessionNotFound(session.id);
  // The partial content's name and the replaced version's blob; what fails here, the sweep retries.
  await removeContent(deps, done.replacedBlobId ? [session.id, done.replacedBlobId] : [session.id]);
  return { session: { ...session, completedAt: done.file.createdAt }, file: done.file };
}

/**
 * A request to a session that completed already: most likely the client's retry after the answer
 * to the completing request was lost. Without content it is answered as that request was (the
 * file); content is refused whole, since the file is final, and never becomes a second file.
 */
async function answerCompleted(deps: UploadDeps, session: SessionRow, first: UploadContentRequest, rest: AsyncIterator<UploadContentRequest>): Promise<UploadOutcome> {
  for (let message: UploadContentRequest | undefined = first; message; ) {
    if (message.data.byteLength > 0) {
      throw withOffset(
        new ConnectError(
          `upload session ${session.id} is complete: all ${session.size} bytes were committed and became file ${session.bucket}/${session.key}; nothing of this request was kept`,
          Code.FailedPrecondition,
        ),
        session.committedOffset,
      );
    }
    const next = await rest.next();
    message = next.done ? undefined : next.value;
  }
  const file = await findFileByBlob(deps.sql, session.id);
  if (!file) {
    throw withOffset(
      new ConnectError(
        `upload session ${session.id} is complete, but the file it became (${session.bucket}/${session.key}) has since been replaced or deleted`,
        Code.FailedPrecondition,
      ),
      session.committedOffset,
    );
  }
  return { session, file };
}

/** Tells the committed offset in the error's metadata (REST: the Upload-Offset header). */
function withOffset(err: ConnectError, committedOffset: number): ConnectError {
  err.metadata.set("upload-offset", String(committedOffset));
  return err;
}

function sessionNotFound(uploadId: string): ConnectError {
  return new ConnectError(`upload session ${uploadId} not found (it may have expired or been cancelled)`, Code.NotFound);
}
