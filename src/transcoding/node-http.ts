/**
 * The small part of Node's HTTP/1.1 and HTTP/2 (compatibility API) request and response objects the
 * transcoder uses, and helpers on them: reading a bounded body, writing JSON, writing with
 * backpressure, and cutting a response off.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type http from "node:http";
import type http2 from "node:http2";
import { finished, type Readable } from "node:stream";
import { errorWithHttpStatus, restError } from "./http-errors.js";
import { bodyWithinTime } from "./request-body-limits.js";
import { stringifyRestJson, type RestJson } from "./rest-json.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
/** A request handler for HTTP/1.1 and HTTP/2 alike (connect-node's adapter and fallback have this shape). */
export type NodeHandler = (req: NodeRequest, res: NodeResponse) => void;

/** The request's header `name` (lower case), joined if repeated. */
export function header(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

// Headers that belong to this HTTP hop or to the protocol, never handed to an RPC as metadata.
const hopHeaders =
  /^(:|host$|connection$|keep-alive$|transfer-encoding$|te$|trailer$|upgrade$|proxy-|content-|accept-encoding$|expect$|connect-|grpc-|range$|if-)/;

/** The request's headers an RPC called for it sees as its own (authorization and the like). */
export function forwardedHeaders(req: NodeRequest): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || hopHeaders.test(name)) continue;
    out.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return out;
}

/** The request's URL as an RPC's context tells it (what a network call to the method would show). */
export function requestUrl(req: NodeRequest): string {
  return `http://${header(req, "host") ?? header(req, ":authority") ?? "localhost"}${req.url ?? "/"}`;
}

// A body's chunks waiting for their reader, at most (then the connection stops being read).
const queuedBodyBytes = 128 * 1024;

/**
 * A request body's chunks as they came off the connection, with backpressure. A Readable's own
 * async iterator read()s all it has buffered at once, which concatenates it: whenever writing lagged
 * behind the network, much of an upload was copied once more on its way in (up to a tenth of a REST
 * upload's CPU). Like that iterator, it destroys the request when its reader stops
 * before the end, and throws what the request fails with (a connection that broke off).
 */
export async function* bodyChunks(req: NodeRequest): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queuedBytes = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const wakeReader = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    queuedBytes += chunk.byteLength;
    if (queuedBytes >= queuedBodyBytes) req.pause();
    wakeReader();
  };
  // Both kinds are Readables (an Http2ServerRequest is one at runtime; its types say less).
  const stopWatching = finished(req as Readable, (err) => {
    if (err) failure ??= { error: err };
    else ended = true;
    wakeReader();
  });
  req.on("data", onData);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        queuedBytes -= chunk.byteLength;
        if (queuedBytes === 0 && req.isPaused()) req.resume();
        yield chunk;
        continue;
      }
      if (failure) throw failure.error;
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    req.off("data", onData);
    stopWatching();
    if (!ended) req.destroy();
  }
}

/**
 * The error for a request body that broke off before its end: the client's connection went away
 * (Node says ECONNRESET "aborted", or an HTTP/2 stream error). It is the client's doing, so it is
 * CANCELED, with the socket error as its cause, never a bare errno that reads like a server fault.
 */
export function requestBodyBrokeOff(cause: unknown): ConnectError {
  if (cause instanceof ConnectError) return cause;
  return new ConnectError(
    "the client went away: the request body broke off",
    Code.Canceled,
    undefined,
    undefined,
    cause,
  );
}

/**
 * Reads a whole (small) body; refuses one over `limit` bytes with 413, and one that has not all
 * arrived within `timeoutMs` with 408.
 */
export async function readSmallBody(req: NodeRequest, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(header(req, "content-length") ?? "0");
  const tooLarge = () =>
    errorWithHttpStatus(`the request body is larger than ${limit} bytes`, Code.ResourceExhausted, 413);
  if (declared > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of bodyWithinTime(req as AsyncIterable<Buffer>, timeoutMs)) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      parts.push(chunk);
    }
  } catch (err) {
    throw requestBodyBrokeOff(err);
  }
  return Buffer.concat(parts);
}

/** Sends a complete JSON answer (no body for HEAD). */
export function sendJson(
  req: NodeRequest,
  res: NodeResponse,
  status: number,
  value: RestJson,
  headers: Record<string, string> = {},
): void {
  const text = Buffer.from(`${stringifyRestJson(value)}\n`);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": String(text.length) });
  if (req.method === "HEAD") res.end();
  else res.end(text);
}

/**
 * Sends an error as `{"code", "message"}` with its HTTP status; cuts the response if it had begun.
 * Error metadata named in `passHeaders` (lower case) travels as response headers.
 */
export function sendError(
  req: NodeRequest,
  res: NodeResponse,
  err: ConnectError,
  passHeaders: ReadonlySet<string>,
): void {
  if (res.headersSent) {
    abortResponse(res);
    return;
  }
  const { status, body } = restError(err);
  const headers: Record<string, string> = {};
  for (const name of passHeaders) {
    const value = err.metadata.get(name);
    if (value !== null) headers[name] = value;
  }
  // A body still arriving is not read any further: say so, so that the client stops sending.
  // HTTP/1.1 only: HTTP/2 has no such header (Node warns), and server.ts resets its stream instead.
  if (req.httpVersionMajor === 1 && !req.complete) headers.connection = "close";
  sendJson(req, res, status, body, headers);
}

/** Writes a chunk, waiting while the client is slower than we are. Throws once the client is gone. */
export async function write(res: NodeResponse, chunk: Uint8Array): Promise<void> {
  if (responseClosed(res)) throw new ConnectError("the client went away", Code.Canceled);
  // Both response kinds have write(); TypeScript can't call through their union.
  (res as http.ServerResponse).write(chunk);
  // Waiting for 'drain' after every chunk larger than the socket's 16 KiB high-water mark would
  // leave the socket idle while the next chunk is made: let up to `bufferedBytes` wait in it instead.
  if (bufferedLength(res) <= bufferedBytes) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", gone);
      resolve();
    };
    const gone = () => {
      res.off("drain", done);
      reject(new ConnectError("the client went away", Code.Canceled));
    };
    res.once("drain", done);
    res.once("close", gone);
  });
}

/** Ends a response whose headers went out but whose body can't be completed: the client sees it cut. */
export function abortResponse(res: NodeResponse): void {
  if ("stream" in res) res.stream.close(2 /* NGHTTP2_INTERNAL_ERROR */);
  else res.destroy();
}

/**
 * Whether the response can take no more bytes. An HTTP/2 compatibility response has no `destroyed`
 * or `closed` (its types say it is a Writable; it is not one), and once its stream has closed its
 * write() answers false with no 'drain' or 'close' ever to follow: its stream knows.
 */
// What a response may hold that its connection has not taken yet, before the writer waits.
const bufferedBytes = 128 * 1024;

/** Bytes written to the response that its connection has not taken yet. */
function bufferedLength(res: NodeResponse): number {
  return "stream" in res ? res.stream.writableLength : res.writableLength;
}

function responseClosed(res: NodeResponse): boolean {
  return "stream" in res ? res.stream.closed || res.stream.destroyed : res.destroyed;
}
