/**
 * Every part of Connect's protocol internals this service uses, in one place. @connectrpc/connect
 * marks these "private, does not follow semantic versioning": a Connect upgrade that moves or
 * changes one fails here (at compile time) and in test/contract/connect-internals.test.ts, never
 * somewhere in the middle of the transcoder or the RPC handler. Why each is needed is said beside it.
 */
// Async-iterable plumbing: the transcoder feeds methods request streams of its own making; an
// error answered before a body is read is one envelope.
export { createAsyncIterable, encodeEnvelope } from "@connectrpc/connect/protocol";
// The router's handlers, called at their paths by the RPC handler.
export type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";
// A method implementation run through interceptors on messages as objects: the transcoder's calls.
export { transformInvokeImplementation } from "@connectrpc/connect/protocol";
// The Connect protocol, in which an error is answered before a body is read.
export {
  codeToHttpStatus,
  codeToString,
  contentTypeStreamJson as connectContentTypeStreamJson,
  contentTypeStreamProto as connectContentTypeStreamProto,
  contentTypeUnaryJson as connectContentTypeUnaryJson,
  createEndStreamSerialization as createConnectEndStreamSerialization,
  endStreamFlag as connectEndStreamFlag,
  errorToJsonBytes as connectErrorToJsonBytes,
  parseContentType as parseConnectContentType,
} from "@connectrpc/connect/protocol-connect";
// gRPC and gRPC-Web: content types and trailers, for errors answered before a body is read.
export {
  contentTypeJson as grpcContentTypeJson,
  contentTypeProto as grpcContentTypeProto,
  parseContentType as parseGrpcContentType,
  setTrailerStatus as setGrpcTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
export {
  contentTypeJson as grpcWebContentTypeJson,
  contentTypeProto as grpcWebContentTypeProto,
  parseContentType as parseGrpcWebContentType,
} from "@connectrpc/connect/protocol-grpc-web";

/**
 * Whether the message of an INTERNAL error is Connect's report of a request message that does not
 * parse as protobuf binary ("parse binary: …"; grpc-go says the same). The client sent it, so the
 * service answers INVALID_ARGUMENT. (A message that does not parse as JSON is INVALID_ARGUMENT in
 * Connect already.)
 */
export function isUnparsableBinaryMessage(message: string): boolean {
  return /^parse binary/.test(message);
}

/** What a client is told when its request message did not parse. */
export function unparsableMessageText(message: string): string {
  return `a request message does not parse: ${message}`;
}
