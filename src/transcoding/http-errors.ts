/**
 * RPC errors as REST clients see them: the HTTP status of the code as the Connect protocol maps it
 * (Vanguard and grpc-gateway map them alike), and a JSON body `{"code": "not_found", "message": "..."}`. A service that needs another
 * status for one error (413 for a size, 507 for a full disk) attaches an HttpErrorStatus detail.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "../connect-internals.js";
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
