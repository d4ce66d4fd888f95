/**
 * RPC errors as REST clients see them: an HTTP status as Connect, Vanguard and grpc-gateway map the
 * codes, and a JSON body `{"code": "not_found", "message": "..."}`. A service that needs another
 * status for one error (413 for a size, 507 for a full disk) attaches an HttpErrorStatus detail.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { HttpErrorStatusSchema } from "../../gen/transcoding/v1/annotations_pb.js";

const statusByCode: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The HTTP status and JSON body for an error. */
export function restError(err: ConnectError): { status: number; body: { code: string; message: string } } {
  const [chosen] = err.findDetails(HttpErrorStatusSchema);
  const status = chosen && chosen.status >= 400 && chosen.status <= 599 ? chosen.status : statusByCode[err.code];
  return { status, body: { code: codeToString(err.code), message: err.rawMessage } };
}

/** Creates a ConnectError carrying the HTTP status REST clients should get. */
export function errorWithHttpStatus(message: string, code: Code, status: number, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, [{ desc: HttpErrorStatusSchema, value: { status } }], cause);
}
