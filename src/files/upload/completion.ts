/**
 * The end of an upload: its last byte is committed, so it becomes a file — or the request came to
 * a session that completed already, and is answered as the completing request was.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { UploadContentRequest } from "../../../gen/files/v1/files_pb.js";
import { BlobMissingError, type BlobStore } from "../../store/blobs/blob-store.js";
import type { Sql } from "../../store/postgres/database.js";
import { completeUpload, findFileByBlob, type FileRow } from "../../store/postgres/file-rows.js";
import { discardSession, findSession, type SessionRow } from "../../store/postgres/upload-sessions.js";
import type { Logger } from "../../log.js";
import { ErrorReason, errorWithReason } from "../error-reasons.js";
import { removeContent, type RemovalQueue } from "../content-removal.js";
import type { HashCache, RunningSha256 } from "../content-hash.js";
import { lockLost, sessionNotFound, withOffset } from "./upload-errors.js";
import type { WriterLease } from "./session-writer.js";
import { inSpan } from "../../observability/tracing.js";

/** What completing needs. */
export interface CompletionDeps {
  sql: Sql;
  blobs: BlobStore;
  hashes: HashCache;
  log: Logger;
  /** Removes content let go of, after the answer. */
  removals: RemovalQueue;
  /** Told of each upload that became a file (the metrics count them). */
  onUploadCompleted?: () => void;
}

/** The session after a request, and the file once the upload is complete. */
export interface UploadOutcome {
  session: SessionRow;
  file?: FileRow;
}

/**
 * Completes a full upload: check the promised checksum, make the content a blob, then in one
 * transaction mark the session completed and make the file visible; only after that commit is the
 * replaced version's content removed. The lock is checked before each step that a writer which
 * lost it must not take (another may be completing the same session).
 */
export function completeFullUpload(
  deps: CompletionDeps,
  session: SessionRow,
  hash: RunningSha256,
  lease: WriterLease,
): Promise<UploadOutcome> {
  const attributes = { "files.upload_id": session.id, "files.upload.size": session.size };
  return inSpan("upload.complete", attributes, () => complete(deps, session, hash, lease));
}

async function complete(
  deps: CompletionDeps,
  session: SessionRow,
  hash: RunningSha256,
  lease: WriterLease,
): Promise<UploadOutcome> {
  const { sql, blobs, hashes } = deps;
  hashes.drop(session.id);
  const sha256 = hash.digest();
  const checkLease = () => {
    if (!lease.valid) throw lockLost(session.id, session.committedOffset);
  };
  checkLease();
  if (session.expectedSha256 && !sha256.equals(session.expectedSha256)) {
    if (await discardSession(sql, session.id)) await removeContent(deps, [session.id]);
    throw new ConnectError(
      `content has sha256 ${sha256.toString("hex")}, not the promised ${session.expectedSha256.toString("hex")}; the upload was discarded`,
      Code.DataLoss,
    );
  }
  await blobs.commit(session.id, session.size).catch(async (err: unknown) => {
    if (!(err instanceof BlobMissingError)) throw err;
    // Cancelled, or completed by a writer that took over, while this one was completing: the
    // partial content went with it. Not data loss: the session is simply no longer this one's.
    const now = await findSession(sql, session.id);
    if (!now) throw sessionNotFound(session.id);
    if (now.completedAt)
      throw new ConnectError(
        `upload session ${session.id} was completed by another request meanwhile; nothing of this request was kept`,
        Code.Aborted,
      );
    throw err;
  });
  checkLease();
  const done = await completeUpload(sql, session, sha256);
  if (!done) {
    // Another request claimed the session since this writer did (its lock went unnoticed), or it ended.
    const now = await findSession(sql, session.id);
    if (now && now.completedAt === null && now.writerEpoch !== session.writerEpoch)
      throw lockLost(session.id, now.committedOffset);
    throw sessionNotFound(session.id);
  }
  // The partial content's name and the replaced version's blob; what fails here, the sweep retries.
  deps.removals.remove(done.replacedBlobId ? [session.id, done.replacedBlobId] : [session.id]);
  deps.onUploadCompleted?.();
  return { session: { ...session, completedAt: done.file.createdAt }, file: done.file };
}

/**
 * A request to a session that completed already: most likely the client's retry after the answer
 * to the completing request was lost. Without content it is answered as that request was (the
 * file); content is refused whole, since the file is final, and never becomes a second file.
 */
export async function answerCompleted(
  sql: Sql,
  session: SessionRow,
  first: UploadContentRequest,
  rest: AsyncIterator<UploadContentRequest>,
): Promise<UploadOutcome> {
  for (let message: UploadContentRequest | undefined = first; message; ) {
    if (message.data.byteLength > 0) {
      throw withOffset(
        errorWithReason(
          `upload session ${session.id} is complete: all ${session.size} bytes were committed and became file ${session.bucket}/${session.key}; nothing of this request was kept`,
          Code.FailedPrecondition,
          ErrorReason.UPLOAD_COMPLETE,
        ),
        session.committedOffset,
      );
    }
    const next = await rest.next();
    message = next.done ? undefined : next.value;
  }
  const file = await findFileByBlob(sql, session.id);
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
