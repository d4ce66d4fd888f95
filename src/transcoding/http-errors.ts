/**
 * RPC errors as REST clients see them: the HTTP status of the code as the Connect protocol maps it
 * (Vanguard and grpc-gateway map them alike), and a JSON body `{"code": "not_found", "message":
 * "..."}`. Where the code alone does not say the status (413 for a size, 507 for a full disk), the
 * service names a reason (the standard google.rpc.ErrorInfo detail) and the transcoder's options
 * map reasons to statuses; the transcoder's own HTTP-level errors (a body too large, a form where
 * raw bytes belong) carry an HttpErrorStatus detail, which never leaves the transcoder.
 */
import { type Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "./connect-internals.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { HttpErrorStatusSchema } from "../../gen/transcoding/v1/annotations_pb.js";

/** The HTTP status and JSON body for an error. */
export function restError(err: ConnectError): { status: number; body: { code: string; message: string } } {
  const [chosen] = err.findDetails(HttpErrorStatusSchema);
  const status = chosen && chosen.status >= 400 && chosen.status <= 599 ? chosen.status : codeToHttpStatus(err.code);
  return { status, body: { code: codeToString(err.code), message: err.rawMessage } };
}

/** Creates a ConnectError carrying the HTTP status REST clients should get. */
export function errorWithHttpStatus(message: string, code: Code, status: number, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, [{ desc: HttpErrorStatusSchema, value: { status } }], cause);
}

/** The error, carrying the status `statusForReason` gives its ErrorInfo reason, if it gives one. */
export function withStatusForReason(
  err: ConnectError,
  statusForReason: Readonly<Record<string, number>> | undefined,
): ConnectError {
  if (!statusForReason) return err;
  const reason = err.findDetails(ErrorInfoSchema)[0]?.reason;
  if (reason === undefined || !Object.hasOwn(statusForReason, reason)) return err;
  err.details.push({ desc: HttpErrorStatusSchema, value: { status: statusForReason[reason] } });
  return err;
}
