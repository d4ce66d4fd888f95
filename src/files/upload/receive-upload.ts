/**
 * One upload request, from its first message to its answer:
 *
 *   find the session ─▶ lock it ─▶ open its partial content at the committed offset ─▶ a
 *   SessionWriter takes the messages ─▶ at the end: commit; complete if full.
 *
 * A request to a completed session is answered without the lock (completion.ts).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { UploadContentRequest } from "../../../gen/files/v1/files_pb.js";
import { BlobMissingError, type BlobStore } from "../../store/blobs/blob-store.js";
import type { SessionLocks } from "../../store/postgres/session-locks.js";
import { claimSession, findSession, type SessionRow } from "../../store/postgres/upload-sessions.js";
import { checkUploadId } from "../request-validation.js";
import { answerCompleted, completeFullUpload, type CompletionDeps, type UploadOutcome } from "./completion.js";
import { SessionWriter, type WriterDeps } from "./session-writer.js";
import { clientWentAway, sessionBusy, sessionNotFound } from "./upload-errors.js";

export type { UploadOutcome } from "./completion.js";

// How far writing may lag behind receiving, in bytes (memory stays bounded by this).
const writeBehindBytes = 8 * 1024 * 1024;

/** What an upload request needs. */
export interface UploadDeps extends Omit<WriterDeps, "writeBehindBytes">, CompletionDeps {
  blobs: BlobStore;
  locks: SessionLocks;
}

/**
 * Receives one upload request's messages. `mayWrite` throws when the caller may not write the
 * session (checked before anything is locked).
 */
export async function receiveUpload(
  deps: UploadDeps,
  requests: AsyncIterable<UploadContentRequest>,
  mayWrite: (session: SessionRow) => void,
): Promise<UploadOutcome> {
  const messages = requests[Symbol.asyncIterator]();
  const first = await messages.next();
  if (first.done) throw new ConnectError("upload_id is required on the first message", Code.InvalidArgument);
  const uploadId = checkUploadId(first.value.uploadId);
  const found = await findSession(deps.sql, uploadId);
  if (!found) throw sessionNotFound(uploadId);
  mayWrite(found);
  if (found.completedAt) return answerCompleted(deps.sql, found, first.value, messages);

  const lease = await deps.locks.tryAcquire(uploadId);
  if (!lease) throw sessionBusy(uploadId, found.committedOffset);
  try {
    // Read again under the lock (the previous writer may have moved the offset, or completed it),
    // and claimed: the epoch it bumps fences off a writer that lost the lock unawares.
    const session = await claimSession(deps.sql, uploadId);
    if (!session) throw sessionNotFound(uploadId);
    if (session.completedAt) return await answerCompleted(deps.sql, session, first.value, messages);
    const appender = await goneIfCancelled(
      deps,
      uploadId,
      deps.blobs.openAppend(uploadId, session.committedOffset, session.size),
    );
    try {
      // A cancel does not wait for the lock: it may have ended the session, and removed its content,
      // just before openAppend made the content anew. Look once more, so nothing is left behind.
      if (session.committedOffset === 0 && !(await findSession(deps.sql, uploadId))) {
        await deps.blobs.discardPartial(uploadId);
        throw sessionNotFound(uploadId);
      }
      const running = await goneIfCancelled(
        deps,
        uploadId,
        deps.hashes.take(uploadId, session.committedOffset, deps.blobs, session.hashState),
      );
      const writer = new SessionWriter({ ...deps, writeBehindBytes }, session, appender, running.hash, lease);
      try {
        await receive(writer, first.value, messages);
        const committed = await writer.finish();
        if (committed.committedOffset < committed.size || first.value.deferCompletion) return { session: committed };
        return await completeFullUpload(deps, committed, writer.hash, lease);
      } finally {
        // Never leave a write or an fsync running on a handle that is about to close.
        await writer.settled();
      }
    } finally {
      await appender.close();
    }
  } finally {
    await lease.release();
  }
}

/**
 * `step`'s result; but if the partial content is missing because a cancel (which does not wait for
 * the lock) removed it meanwhile, the session is simply gone — not data loss.
 */
async function goneIfCancelled<T>(deps: UploadDeps, uploadId: string, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (err) {
    if (err instanceof BlobMissingError && !(await findSession(deps.sql, uploadId))) throw sessionNotFound(uploadId);
    throw err;
  }
}

/** Feeds the writer every message; a broken request stream commits what arrived. */
async function receive(
  writer: SessionWriter,
  first: UploadContentRequest,
  rest: AsyncIterator<UploadContentRequest>,
): Promise<void> {
  for (let message = first; ; ) {
    await writer.append(message);
    let next: IteratorResult<UploadContentRequest>;
    try {
      next = await rest.next();
    } catch (err) {
      // The client went away mid-stream: keep what arrived so that the upload can resume.
      await writer.interrupt();
      // A socket error here is the client's connection, not the database's: say so before the
      // error mapping sees a bare errno. Connect's own errors (a message that does not parse) stay.
      if (err instanceof ConnectError) throw err;
      throw clientWentAway(err);
    }
    if (next.done) return;
    message = next.value;
  }
}
