/**
 * The draft's errors as problem details (RFC 9457, application/problem+json): its three problem
 * types, and the service's other errors as plain problems with their status and message.
 */
import type { ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../../files/error-reasons.js";
import { httpStatusOf } from "../http-exchange.js";

const problemTypes = "https://iana.org/assignments/http-problem-types#";

/** A problem to answer: its status, its body, and headers to send with it. */
export interface UploadProblem {
  status: number;
  body: Record<string, string | number>;
  headers: Record<string, string>;
}

/** The offset in the request did not match the upload's (409, with both offsets). */
export function mismatchingOffset(expected: number, provided: number): UploadProblem {
  return {
    status: 409,
    body: {
      type: `${problemTypes}mismatching-upload-offset`,
      title: "offset from request does not match offset of resource",
      detail: `the upload is at offset ${expected}, not ${provided}; nothing of this request was kept`,
      "expected-offset": expected,
      "provided-offset": provided,
    },
    headers: { "upload-offset": String(expected) },
  };
}

/** The upload is complete and takes no more requests. */
export function completedUpload(): UploadProblem {
  return {
    status: 400,
    body: { type: `${problemTypes}completed-upload`, title: "upload is already completed" },
    headers: {},
  };
}

/** Lengths that contradict each other, or content past the length (400). */
export function inconsistentLength(detail: string): UploadProblem {
  return {
    status: 400,
    body: { type: `${problemTypes}inconsistent-upload-length`, title: "inconsistent length values for upload", detail },
    headers: {},
  };
}

/** Any other failure: a plain problem with the status the error calls for. */
export function plainProblem(status: number, title: string): UploadProblem {
  return { status, body: { type: "about:blank", title, status }, headers: {} };
}

// The draft's statuses of the service's reasons; other errors get their code's status.
const statusForReason: Readonly<Record<string, number>> = {
  // Another request writes the upload (on another server: this one ends its own first): not an
  // offset mismatch, which is what 409 means to a draft client.
  [ErrorReason.UPLOAD_SESSION_BUSY]: 503,
  [ErrorReason.FILE_TOO_LARGE]: 413,
  [ErrorReason.STORAGE_FULL]: 507,
};

/** The problem an error of the service's calls is answered with; `provided` is the request's offset. */
export function problemOf(err: ConnectError, provided: number | undefined): UploadProblem {
  const reason = err.findDetails(ErrorInfoSchema)[0]?.reason;
  const offset = Number(err.metadata.get("upload-offset") ?? Number.NaN);
  if (reason === ErrorReason.UPLOAD_OFFSET_MISMATCH && provided !== undefined && !Number.isNaN(offset))
    return mismatchingOffset(offset, provided);
  if (reason === ErrorReason.CONTENT_PAST_DECLARED_SIZE || reason === ErrorReason.UPLOAD_COMPLETE)
    return inconsistentLength(err.rawMessage);
  const problem = plainProblem(httpStatusOf(err, statusForReason), err.rawMessage);
  for (const name of ["retry-after", "www-authenticate", "upload-offset"]) {
    const value = err.metadata.get(name);
    if (value !== null) problem.headers[name] = value;
  }
  if (reason === ErrorReason.UPLOAD_SESSION_BUSY) problem.headers["retry-after"] ??= "1";
  return problem;
}
