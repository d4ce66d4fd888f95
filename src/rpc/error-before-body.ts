/**
 * An RPC error answered before the request body is read, in the protocol the request speaks, as
 * the router's own handlers would answer it:
 *
 * - Connect unary (POST application/json or application/proto, or GET): the HTTP status of the
 *   code and the JSON error body, error metadata as headers;
 * - Connect streaming (application/connect+…): HTTP 200 and one end-stream message;
 * - gRPC and gRPC-Web: trailers-only, i.e. HTTP 200 and one header block carrying grpc-status and
 *   grpc-message (on HTTP/2 with END_STREAM set: gRPC clients read it as the trailers).
 *
 * The unread body is never drained: an HTTP/1.1 connection is closed after the answer
 * (`Connection: close`), and server.ts resets an HTTP/2 stream that is answered before its end.
 */
import type { ConnectError } from "@connectrpc/connect";
import {
  codeToHttpStatus,
  connectContentTypeStreamJson,
  connectContentTypeStreamProto,
  connectContentTypeUnaryJson,
  connectEndStreamFlag,
  connectErrorToJsonBytes,
  createConnectEndStreamSerialization,
  encodeEnvelope,
  grpcContentTypeJson,
  grpcContentTypeProto,
  grpcWebContentTypeJson,
  grpcWebContentTypeProto,
  parseConnectContentType,
  parseGrpcContentType,
  parseGrpcWebContentType,
  setGrpcTrailerStatus,
} from "../transcoding/connect-internals.js";
import type { NodeHandler } from "../transcoding/index.js";

interface Answer {
  status: number;
  header: Headers;
  body?: Uint8Array;
}

/**
 * Answers `err` in the request's protocol; false (and nothing written) when the request speaks
 * none we know, so that the router answers it (405 or 415, also without reading the body).
 */
export function sendRpcErrorBeforeBody(
  req: Parameters<NodeHandler>[0],
  res: Parameters<NodeHandler>[1],
  err: ConnectError,
): boolean {
  const answer = answerFor(req.method ?? "", String(req.headers["content-type"] ?? ""), err);
  if (!answer) return false;
  res.statusCode = answer.status;
  for (const [name, value] of answer.header) res.setHeader(name, value);
  if (req.httpVersionMajor === 1 && !req.complete) res.setHeader("connection", "close");
  // end() without writeHead(): with no body, Node's HTTP/2 layer then sends the one header block
  // with END_STREAM, a true trailers-only response.
  if (answer.body) res.end(answer.body);
  else res.end();
  return true;
}

function answerFor(method: string, contentType: string, err: ConnectError): Answer | undefined {
  if (method === "GET") return connectUnary(err);
  const connectType = parseConnectContentType(contentType);
  if (connectType && !connectType.stream) return connectUnary(err);
  if (connectType) {
    const header = new Headers({
      "content-type": connectType.binary ? connectContentTypeStreamProto : connectContentTypeStreamJson,
    });
    // The error's metadata goes into the end-stream message with it.
    const end = createConnectEndStreamSerialization(undefined).serialize({ metadata: new Headers(), error: err });
    return { status: 200, header, body: encodeEnvelope(connectEndStreamFlag, end) };
  }
  const grpcType = parseGrpcContentType(contentType);
  if (grpcType) return trailersOnly(grpcType.binary ? grpcContentTypeProto : grpcContentTypeJson, err);
  const webType = parseGrpcWebContentType(contentType);
  // gRPC-Web text is not served by the router (it answers 415): leave it to the router.
  if (webType && !webType.text)
    return trailersOnly(webType.binary ? grpcWebContentTypeProto : grpcWebContentTypeJson, err);
  return undefined;
}

function connectUnary(err: ConnectError): Answer {
  const header = new Headers(err.metadata);
  const body = connectErrorToJsonBytes(err, undefined);
  header.set("content-type", connectContentTypeUnaryJson);
  header.set("content-length", String(body.byteLength));
  return { status: codeToHttpStatus(err.code), header, body };
}

function trailersOnly(contentType: string, err: ConnectError): Answer {
  return { status: 200, header: setGrpcTrailerStatus(new Headers({ "content-type": contentType }), err) };
}
