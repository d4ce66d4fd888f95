/**
 * REST/JSON in front of Connect handlers, driven by the google.api.http annotations of the methods
 * (read at runtime from their descriptors) and our transcoding.v1.rest options. A request is matched
 * to a route, turned into the RPC's request message(s), and run through the same implementations and interceptors
 * that serve gRPC and Connect — one implementation, every protocol. Per method kind:
 * - unary: JSON in (body/path/query/headers), JSON out (response_body or the whole response);
 * - client-streaming with a bytes body field: the raw body, cut into messages (uploads); a form
 *   (multipart/form-data) is refused with 415 before the method is called, as its framing is not
 *   the content;
 * - server-streaming with a download option: raw bytes with Range/ETag (download.ts);
 * - other server-streaming: newline-delimited JSON, one message a line, an error as a last line
 *   `{"error": {...}}`.
 * Bidirectional methods, and client-streaming ones without a bytes body, answer 501.
 *
 * A routed request's headers are checked (`checkBeforeBody`: authentication) before its body is
 * read; a body read whole must arrive within a time limit, and a raw upload body may be held to a
 * minimum rate (request-body-limits.ts).
 */
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { createAsyncIterable } from "./connect-internals.js";
import { ScalarType, type DescMethod, type JsonValue, type Message } from "@bufbuild/protobuf";
import { createDispositionPolicy } from "./content-disposition.js";
import { serveDownload } from "./download.js";
import { readFieldPath, resolveFieldPath } from "./field-paths.js";
import type { InProcessCallInit, InProcessMethod } from "./in-process-methods.js";
import { errorWithHttpStatus, restError, withStatusForReason } from "./http-errors.js";
import {
  bodyChunks,
  forwardedHeaders,
  header,
  requestUrl,
  readSmallBody,
  sendError,
  sendJson,
  write,
  type NodeHandler,
  type NodeRequest,
  type NodeResponse,
} from "./node-http.js";
import { callWithRawBody } from "./raw-body.js";
import { bindRequest } from "./request-binding.js";
import { limitRequestBody, requestBodyTimeoutReason, type RequestBodyLimits } from "./request-body-limits.js";
import { messageToRestJson, stringifyRestJson, type RestJson } from "./rest-json.js";
import { createRouteTable, type Route, type RouteTable } from "./route-table.js";

/**
 * A check of a request's headers before its body is read (authentication): what it throws is
 * answered at once, and the body is never read.
 */
export type BeforeBodyCheck = (method: DescMethod, header: (name: string) => string | undefined) => void;

/** Options of {@link createTranscoder}. */
export interface TranscoderOptions {
  /**
   * The methods of the router that serves the RPCs, callable in process (`routeInProcess`): REST
   * calls run through the same implementations and interceptors.
   */
  methods: readonly InProcessMethod[];
  /** Context values of a request, as connectNodeAdapter's `contextValues`. */
  contextValues?: (req: NodeRequest) => ContextValues;
  /** Largest JSON request body in bytes (a larger one answers 413). */
  maxJsonBodyBytes: number;
  /**
   * How long a body read whole may take to arrive, and how fast a raw upload body must come
   * (default: 30 s for a whole body, no minimum rate).
   */
  bodyLimits?: RequestBodyLimits;
  /** Runs on every routed request before its body is read. */
  checkBeforeBody?: BeforeBodyCheck;
  /** No message of a raw request body carries more than this many bytes (default 256 KiB). */
  rawChunkBytes?: number;
  /** A document served at GET /openapi.json, when given. */
  openApi?: object;
  /**
   * HTTP statuses for errors whose google.rpc.ErrorInfo reason calls for another status than their
   * code maps to (e.g. `{ FILE_TOO_LARGE: 413 }`): the service names the reason, the app the status.
   */
  httpStatusForReason?: Readonly<Record<string, number>>;
  /** Called with the transcoder's own failures (not the RPCs' errors): bugs, for logging. */
  onInternalError?: (err: ConnectError) => void;
  /**
   * Media types a download is shown inline as (exact, or `type/*`); any other is an attachment.
   * Default: images, PDF, plain text, video and audio; HTML and SVG are never inline.
   */
  inlineContentTypes?: readonly string[];
}

/** A REST front end. */
export interface Transcoder {
  /** The routes it serves. */
  table: RouteTable;
  /** Serves a request: a route's answer, 404 or 405. Fits connectNodeAdapter's `fallback`. */
  handle: NodeHandler;
}

/** Creates the transcoder for every annotated method of the given routes. */
export function createTranscoder(options: TranscoderOptions): Transcoder {
  const table = createRouteTable(options.methods.map((m) => m.method));
  const methods = new Map(options.methods.map((m) => [m.method, m]));
  // Error metadata that HTTP clients understand as headers: authentication challenges, retry
  // hints, and whatever a method binds to response headers (an upload's Upload-Offset).
  const errorHeaders = new Set([
    "www-authenticate",
    "retry-after",
    ...table.routes.flatMap((r) => (r.rest?.responseHeaders ?? []).map((h) => h.header.toLowerCase())),
  ]);
  const chunkBytes = options.rawChunkBytes ?? 256 * 1024;
  const bodyLimits = options.bodyLimits ?? { wholeBodyTimeoutMs: 30_000 };
  // A body cut for its pace is 408 Request Timeout, whatever the service maps besides.
  const statusForReason = { [requestBodyTimeoutReason]: 408, ...options.httpStatusForReason };
  const disposition = createDispositionPolicy(options.inlineContentTypes);

  async function serve(req: NodeRequest, res: NodeResponse, signal: AbortSignal): Promise<void> {
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
    const method = req.method ?? "GET";
    if (options.openApi && rawPath === "/openapi.json" && (method === "GET" || method === "HEAD")) {
      return sendJson(req, res, 200, options.openApi as RestJson);
    }
    const match = table.match(method, rawPath);
    if (match.kind === "not_found") throw new ConnectError(`no route for ${method} ${rawPath}`, Code.NotFound);
    if (match.kind === "method_not_allowed") {
      const err = new ConnectError(
        `${method} is not allowed on ${rawPath}; use ${match.allow.join(", ")}`,
        Code.Unimplemented,
      );
      return sendJson(req, res, 405, restError(err).body, { allow: match.allow.join(", ") });
    }
    const { route, bindings } = match;
    // Before a byte of the body is read: a caller without a key can't make us read or parse one.
    options.checkBeforeBody?.(route.method, (name) => header(req, name));
    const contextValues = options.contextValues?.(req);
    const init: InProcessCallInit = {
      header: forwardedHeaders(req),
      signal,
      contextValues,
      requestMethod: method,
      url: requestUrl(req),
    };
    const inProcess = methods.get(route.method)!;
    const parts = { bindings, query, header: (name: string) => header(req, name) };
    const kind = route.method.methodKind;
    const rawBody = route.bodyField?.fieldKind === "scalar" && route.bodyField.scalar === ScalarType.BYTES;

    if (rawBody) refuseForm(req);
    if (kind === "client_streaming" && rawBody) {
      const first = bindRequest(route, parts);
      const body = limitRequestBody(bodyChunks(req), "streamed", bodyLimits);
      const answer = await callWithRawBody({
        init,
        method: inProcess,
        first,
        field: route.bodyField!,
        body,
        pieceBytes: chunkBytes,
      });
      return respond(req, res, route, answer);
    }
    if (kind === "client_streaming" || kind === "bidi_streaming") {
      throw new ConnectError(
        `${route.method.name} is ${kind.replace("_", "-")}; REST serves it only with a bytes body`,
        Code.Unimplemented,
      );
    }
    const body = route.body === "" ? undefined : await readBody(req, rawBody);
    const request = bindRequest(route, { ...parts, body: rawBody ? undefined : (body as JsonValue | undefined) });
    if (rawBody && body !== undefined) setBytes(route, request, body as Uint8Array);

    if (kind === "unary") {
      for await (const message of inProcess.call(createAsyncIterable([request]), init))
        return respond(req, res, route, message);
      throw new ConnectError(`${route.method.name} answered no message`, Code.Internal);
    }
    if (route.rest?.download) {
      return serveDownload({ method: inProcess, options: route.rest.download, init, disposition }, req, res, request);
    }
    return streamJsonLines(req, res, route, inProcess.call(createAsyncIterable([request]), init));
  }

  async function readBody(req: NodeRequest, raw: boolean): Promise<JsonValue | Uint8Array | undefined> {
    const bytes = await readSmallBody(req, options.maxJsonBodyBytes, bodyLimits.wholeBodyTimeoutMs);
    if (raw) return bytes;
    if (bytes.length === 0) return undefined;
    try {
      // Read as JSON whatever the Content-Type says: `curl -d` labels JSON as a form.
      return JSON.parse(bytes.toString("utf8")) as JsonValue;
    } catch (err) {
      throw new ConnectError(`the request body is not valid JSON: ${(err as Error).message}`, Code.InvalidArgument);
    }
  }

  return {
    table,
    handle(req, res) {
      const abort = new AbortController();
      // The client went away before we answered: stop the call (an upload keeps what arrived).
      res.once("close", () => {
        if (!res.writableFinished) abort.abort(new ConnectError("the client went away", Code.Canceled));
      });
      serve(req, res, abort.signal).catch((reason: unknown) => {
        const err = withStatusForReason(ConnectError.from(reason), statusForReason);
        // The RPC's own errors were mapped, and logged, by its interceptors; an exception that is not
        // a ConnectError was raised here, and is a bug of the transcoder.
        if (!(reason instanceof ConnectError)) options.onInternalError?.(err);
        if (!res.writableEnded) sendError(req, res, err, errorHeaders);
      });
    },
  };
}

/** Answers a unary result: response_body (or the whole message) as JSON, plus header bindings. */
function respond(req: NodeRequest, res: NodeResponse, route: Route, message: Message): void {
  const headers: Record<string, string> = {};
  for (const binding of route.rest?.responseHeaders ?? []) {
    const value = readFieldPath(route.method.output, message, resolveFieldPath(route.method.output, binding.field));
    if (value !== undefined && typeof value !== "object") headers[binding.header.toLowerCase()] = String(value);
  }
  sendJson(req, res, 200, responseJson(route, message), headers);
}

function responseJson(route: Route, message: Message): RestJson {
  const json = messageToRestJson(route.method.output, message);
  return route.responseBodyField ? (json[route.responseBodyField.name] ?? null) : json;
}

async function streamJsonLines(
  _req: NodeRequest,
  res: NodeResponse,
  route: Route,
  messages: AsyncIterable<Message>,
): Promise<void> {
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  try {
    for await (const message of messages)
      await write(res, Buffer.from(`${stringifyRestJson(responseJson(route, message))}\n`));
  } catch (reason) {
    if (res.destroyed) return;
    await write(res, Buffer.from(`${stringifyRestJson({ error: restError(ConnectError.from(reason)).body })}\n`)).catch(
      () => undefined,
    );
  }
  res.end();
}

/**
 * A raw body is the content itself. A form (`curl -F file=@x`, an HTML form) wraps the file in
 * multipart boundaries and part headers, which would be stored as if they were content — and its
 * size is the file's plus the framing, so an upload fails with a misleading "too large". Say what
 * to send instead, before anything of it is read.
 */
function refuseForm(req: NodeRequest): void {
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(header(req, "content-type") ?? "")) return;
  throw errorWithHttpStatus(
    "the body is a multipart/form-data form (curl -F), not the raw content: send the file's bytes as the body, e.g. curl --data-binary @file or curl -T file",
    Code.InvalidArgument,
    415,
  );
}

function setBytes(route: Route, request: Message, bytes: Uint8Array): void {
  (request as unknown as Record<string, unknown>)[route.bodyField!.localName] = bytes;
}
