/**
 * Machine-readable reasons of FilesService's errors, as the standard google.rpc.ErrorInfo detail
 * (domain "files.v1"). The code says what kind of failure it is; the reason says which one, so that
 * clients of every protocol can branch on it, and so that the REST face can choose an HTTP status
 * where the code alone does not say it (the app maps reasons to statuses; the domain knows none).
 */
import { type Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** The reasons this service gives. */
export const ErrorReason = {
  /** A session declared a size beyond the configured maximum file size. */
  FILE_TOO_LARGE: "FILE_TOO_LARGE",
  /** An upload request carried content beyond the session's declared size. */
  CONTENT_PAST_DECLARED_SIZE: "CONTENT_PAST_DECLARED_SIZE",
  /** The content store is out of space or quota. */
  STORAGE_FULL: "STORAGE_FULL",
  /** An upload request's content did not match the checksum it came with; none of it was kept. */
  REQUEST_CHECKSUM_MISMATCH: "REQUEST_CHECKSUM_MISMATCH",
  /** An upload request's offset precondition did not hold; none of it was kept. */
  UPLOAD_OFFSET_MISMATCH: "UPLOAD_OFFSET_MISMATCH",
  /** Another request is writing the upload session now. */
  UPLOAD_SESSION_BUSY: "UPLOAD_SESSION_BUSY",
  /** The upload session is complete: its content became a file and takes no more bytes. */
  UPLOAD_COMPLETE: "UPLOAD_COMPLETE",
} as const;

export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

/** The ErrorInfo domain of this service's reasons. */
const errorDomain = "files.v1";

/** A ConnectError with a reason. */
export function errorWithReason(message: string, code: Code, reason: ErrorReason, cause?: unknown): ConnectError {
  return new ConnectError(
    message,
    code,
    undefined,
    [{ desc: ErrorInfoSchema, value: { reason, domain: errorDomain } }],
    cause,
  );
}
