/**
 * The errors an upload answers with. Each says what happened and what the client can do; those
 * that leave the session at a known offset carry it in the `upload-offset` metadata (REST: the
 * Upload-Offset header), so that a client can resume without asking.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, errorWithReason } from "../error-reasons.js";

/** Tells the committed offset in the error's metadata. */
export function withOffset(err: ConnectError, committedOffset: number): ConnectError {
  err.metadata.set("upload-offset", String(committedOffset));
  return err;
}

/** There is no such live session (a completed one is still found until it expires). */
export function sessionNotFound(uploadId: string): ConnectError {
  return new ConnectError(
    `upload session ${uploadId} not found (it may have expired or been cancelled)`,
    Code.NotFound,
  );
}

/** Another request holds the session's lock. */
export function sessionBusy(uploadId: string, committedOffset: number): ConnectError {
  return withOffset(
    errorWithReason(
      `upload session ${uploadId} is being written by another request; retry once it ends`,
      Code.Aborted,
      ErrorReason.UPLOAD_SESSION_BUSY,
    ),
    committedOffset,
  );
}

/**
 * The lock went with its database connection (an outage, or the connection was cut): another
 * writer may hold the session now. Transient, like its cause.
 */
export function lockLost(uploadId: string, committedOffset: number): ConnectError {
  return withOffset(
    new ConnectError(
      `lost the lock on upload session ${uploadId} with its database connection; nothing past the committed offset ${committedOffset} was kept; retry`,
      Code.Unavailable,
    ),
    committedOffset,
  );
}

/** The session went away under a running request. */
export function sessionEndedDuringUpload(uploadId: string): ConnectError {
  return new ConnectError(`upload session ${uploadId} was cancelled or expired during the upload`, Code.NotFound);
}

/** A message named another session than the request's first. */
export function uploadIdChanged(uploadId: string, named: string): ConnectError {
  return new ConnectError(`upload_id changed within the request (from ${uploadId} to ${named})`, Code.InvalidArgument);
}

/** A message's offset precondition does not hold; the request is refused whole. */
export function offsetMismatch(offset: bigint, expected: number, committedOffset: number): ConnectError {
  return withOffset(
    errorWithReason(
      `offset ${offset} does not match the upload's offset ${expected}; nothing of this request was kept: resume from offset ${committedOffset}`,
      Code.Aborted,
      ErrorReason.UPLOAD_OFFSET_MISMATCH,
    ),
    committedOffset,
  );
}

/** Content beyond the declared size; the request is refused whole. */
export function pastDeclaredSize(size: number, committedOffset: number): ConnectError {
  return withOffset(
    errorWithReason(
      `content goes past the declared size of ${size} bytes; nothing of this request was kept: the committed offset is ${committedOffset}`,
      Code.OutOfRange,
      ErrorReason.CONTENT_PAST_DECLARED_SIZE,
    ),
    committedOffset,
  );
}

/** The client went away mid-stream (its socket error is the cause, never the database's). */
export function clientWentAway(cause: unknown): ConnectError {
  return new ConnectError("the client went away during the upload", Code.Canceled, undefined, undefined, cause);
}

/** A request's content does not match the checksum it came with; the request is refused whole. */
export function requestChecksumMismatch(algorithm: string, committedOffset: number): ConnectError {
  return withOffset(
    errorWithReason(
      `the request's content does not match its ${algorithm} checksum; nothing of this request was kept: send it again from offset ${committedOffset}`,
      Code.DataLoss,
      ErrorReason.REQUEST_CHECKSUM_MISMATCH,
    ),
    committedOffset,
  );
}
