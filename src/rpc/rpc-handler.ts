/**
 * The Node request handler for the RPC router: what connectNodeAdapter does, with changes that
 * need the router's handlers in our hands.
 *
 * - Before a request body is read, its headers are checked (authentication): a refused request is
 *   answered at once in its protocol (error-before-body.ts), and its body is never read.
 * - Request bodies have limits: one read whole (unary and server-streaming methods) must arrive
 *   within a time limit, a streamed one may have a minimum rate (request-body-limits.ts). An
 *   HTTP/1.1 answer that leaves part of a body unread closes the connection, as Node would
 *   otherwise read the rest, for as long as the client cares to send it, before the next request.
 * - A request message that does not parse is the client's mistake: Connect (like grpc-go) answers
 *   it INTERNAL (HTTP 500); we answer INVALID_ARGUMENT (400), on the Connect and gRPC protocols.
 *   (gRPC-Web writes its status into the body, where it stays INTERNAL. Streamed request messages
 *   are parsed inside the handler, where error-mapping.ts maps them.)
 * - A response that can't be written (the client went away) is logged through our logger, not
 *   printed to the console.
 * The same handlers serve the REST transcoder, in process, so both faces share one router.
 */
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerResponse } from "../transcoding/connect-internals.js";
import { isUnparsableBinaryMessage, unparsableMessageText } from "../transcoding/connect-internals.js";
import type { Logger } from "../log.js";
import { sendRpcErrorBeforeBody } from "./error-before-body.js";
import {
  bodyChunks,
  limitRequestBody,
  type BeforeBodyCheck,
  type NodeHandler,
  type RequestBodyLimits,
} from "../transcoding/index.js";

/** Options of {@link createRpcHandler}. */
export interface RpcHandlerOptions {
  /** The router's handlers, already wrapped by {@link parseErrorsAsInvalidArgument}. */
  handlers: readonly UniversalHandler[];
  contextValues: (req: Parameters<NodeHandler>[0]) => ContextValues;
  /** Serves every request that is not an RPC path. */
  fallback: NodeHandler;
  /** Runs on every RPC request before its body is read. */
  checkBeforeBody?: BeforeBodyCheck;
  /** Limits on how request bodies arrive: a time limit for whole ones, a minimum rate for streams. */
  bodyLimits: RequestBodyLimits;
  log: Logger;
}

/** A Node request handler serving the RPCs at their paths and everything else through `fallback`. */
export function createRpcHandler(options: RpcHandlerOptions): NodeHandler {
  const byPath = new Map(options.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = byPath.get((req.url ?? "").split("?", 1)[0]);
    if (!handler) return options.fallback(req, res);
    try {
      options.checkBeforeBody?.(handler.method, (name) => headerValue(req.headers[name]));
    } catch (reason) {
      // A request in no protocol we know goes on to the router, which refuses it unread (415).
      if (sendRpcErrorBeforeBody(req, res, ConnectError.from(reason))) return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    const kind = handler.method.methodKind;
    const read = kind === "client_streaming" || kind === "bidi_streaming" ? "streamed" : "whole";
    // The body as it comes off the connection, not as a Readable concatenates what it buffered.
    const body = limitRequestBody(bodyChunks(req), read, options.bodyLimits);
    handler({ ...uReq, body })
      .then((uRes) => {
        if (req.httpVersionMajor === 1 && !req.complete) res.setHeader("connection", "close");
        return universalResponseToNodeResponse(uRes, res);
      })
      .catch((reason: unknown) => {
        const err = ConnectError.from(reason);
        // A client that goes away mid-response is routine; anything else is worth a look.
        const gone =
          err.code === Code.Aborted ||
          err.code === Code.Canceled ||
          /ERR_STREAM_DESTROYED|ERR_HTTP2_INVALID_STREAM|ERR_STREAM_PREMATURE_CLOSE/.test(err.message);
        if (!gone) options.log.warn("could not write a response", { rpc: handler.method.name, err });
      });
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** Wraps a router handler so that unparsable request messages answer INVALID_ARGUMENT. */
export function parseErrorsAsInvalidArgument(handler: UniversalHandler): UniversalHandler {
  const wrapped = async (req: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    fixGrpcStatus(res.header);
    if (res.status === 500 && res.body && res.header?.get("content-type")?.startsWith("application/json")) {
      return fixConnectUnary(res);
    }
    if (!res.trailer || !res.body) return res;
    const { body, trailer } = res;
    // gRPC trailers are filled in while the body is written: fix them once it is done.
    return {
      ...res,
      body: (async function* () {
        yield* body;
        fixGrpcStatus(trailer);
      })(),
    };
  };
  return Object.assign(wrapped, handler);
}

function fixGrpcStatus(headers: Headers | undefined): void {
  if (headers?.get("grpc-status") !== String(Code.Internal)) return;
  if (isUnparsableBinaryMessage(decodeURIComponent(headers.get("grpc-message") ?? "")))
    headers.set("grpc-status", String(Code.InvalidArgument));
}

async function fixConnectUnary(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const parts: Uint8Array[] = [];
  for await (const chunk of res.body!) parts.push(chunk);
  const bytes = Buffer.concat(parts);
  let error: { code?: string; message?: string } | undefined;
  try {
    error = JSON.parse(bytes.toString("utf8")) as typeof error;
  } catch {
    error = undefined;
  }
  const replay = (data: Uint8Array) =>
    (async function* () {
      yield data;
    })();
  if (error?.code !== "internal" || !isUnparsableBinaryMessage(error.message ?? ""))
    return { ...res, body: replay(bytes) };
  const fixed = Buffer.from(
    JSON.stringify({ code: "invalid_argument", message: unparsableMessageText(error.message ?? "") }),
  );
  const header = new Headers(res.header);
  header.delete("content-length");
  return { ...res, status: 400, header, body: replay(fixed) };
}
