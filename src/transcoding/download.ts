/**
 * A server-streaming method served as a download (transcoding.v1.Download): the first message's
 * metadata becomes Content-Type, Content-Length and ETag; the following messages' bytes become the
 * body, written as fast as the client reads. HTTP semantics on top:
 * - Range: one `bytes=a-b`, `bytes=a-` or `bytes=-n` range answers 206 with Content-Range, or 416
 *   when it starts past the end; several ranges or a malformed header are ignored (200, whole body),
 *   as RFC 9110 allows. If-Range with another ETag also means the whole body.
 * - If-None-Match with the current ETag (or `*`) answers 304 without a body.
 * - HEAD answers the headers only.
 * The range goes into the request's offset/limit fields, so only the bytes sent are read.
 * Every download says how to present it (Content-Disposition, see content-disposition.ts) and is
 * kept from running in this origin: nosniff, so a browser trusts the Content-Type, and a sandbox
 * CSP, so a page that does open runs no script with the service's cookies or origin.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable } from "./connect-internals.js";
import { clone, ScalarType, type DescField, type DescMethod, type Message } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { Download } from "../../gen/transcoding/v1/annotations_pb.js";
import { lastSegment, type DispositionPolicy } from "./content-disposition.js";
import { readFieldPath, resolveFieldPath } from "./field-paths.js";
import type { InProcessCallInit, InProcessMethod } from "./in-process-methods.js";
import { restError } from "./http-errors.js";
import { abortResponse, header, sendJson, write, type NodeRequest, type NodeResponse } from "./node-http.js";

/** What a download needs from the transcoder. */
export interface DownloadContext {
  method: InProcessMethod;
  options: Download;
  /** The call as the request makes it (headers, the request's signal, context values). */
  init: InProcessCallInit;
  /** Chooses Content-Disposition from the media type and the file name. */
  disposition: DispositionPolicy;
}

/** A single byte range as asked for. */
type ByteRange = { first: number; last?: number } | { suffix: number };

/** Parses a Range header; undefined when absent, not of bytes, malformed or multiple (then ignored). */
function parseRange(value: string | undefined): ByteRange | undefined {
  const m = value === undefined ? null : /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") return { suffix: Number(m[2]) };
  const first = Number(m[1]);
  const last = m[2] === "" ? undefined : Number(m[2]);
  if (!Number.isSafeInteger(first) || (last !== undefined && (!Number.isSafeInteger(last) || last < first))) return undefined;
  return { first, last };
}

/** Does an If-None-Match header match this ETag (weak comparison, as RFC 9110 says for it)? */
function etagMatches(list: string, etag: string): boolean {
  return list.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t.replace(/^W\//, "") === etag;
  });
}

/** Serves one download request whose RPC request is `request` (path and query already bound). */
export async function serveDownload(ctx: DownloadContext, req: NodeRequest, res: NodeResponse, request: Message): Promise<void> {
  const { options } = ctx;
  const { method } = ctx.method;
  const field = (name: string, schema = method.output) => (name ? resolveFieldPath(schema, name) : undefined);
  const metadataPath = field(options.metadata)!;
  const contentPath = field(options.content)!;
  const meta = metadataPath.at(-1)!.message!;
  const [sizeField, typeField, etagField, filenameField] = [field(options.size, meta), field(options.contentType, meta), field(options.etag, meta), field(options.filename, meta)];
  const [offsetField, limitField] = [field(options.rangeOffset, method.input), field(options.rangeLimit, method.input)];

  let range = offsetField ? parseRange(header(req, "range")) : undefined;
  const open = (offset?: number, limit?: number) => openStream(ctx, request, offsetField, limitField, offset, limit);
  const describe = (first: Message) => {
    const m = readFieldPath(method.output, first, metadataPath) as Message | undefined;
    if (!m) throw new ConnectError(`${method.name}: the first message carries no ${options.metadata}`, Code.Internal);
    const size = Number(sizeField ? readFieldPath(meta, m, sizeField) : NaN);
    if (!Number.isSafeInteger(size) || size < 0) throw new ConnectError(`${method.name}: the metadata has no valid ${options.size}`, Code.Internal);
    const etagValue = etagField ? readFieldPath(meta, m, etagField) : undefined;
    const etag = etagValue === undefined || etagValue === "" ? undefined : `"${etagValue instanceof Uint8Array ? Buffer.from(etagValue).toString("hex") : String(etagValue)}"`;
    const type = typeField ? String(readFieldPath(meta, m, typeField) ?? "") : "";
    const filename = filenameField ? lastSegment(String(readFieldPath(meta, m, filenameField) ?? "")) : "";
    return { size, etag, type: type || "application/octet-stream", filename };
  };
  /** The representation's metadata, by a call cut off after its first message. */
  const probe = async () => {
    const stream = await open();
    try {
      return describe(await stream.first());
    } finally {
      stream.cancel();
    }
  };
  const ifNoneMatch = header(req, "if-none-match");
  /** Preconditions come before Range (RFC 9110 §13.2.2): a matching If-None-Match is 304 whatever the range. */
  const notModified = (info: { etag?: string }) => {
    if (!info.etag || ifNoneMatch === undefined || !etagMatches(ifNoneMatch, info.etag)) return false;
    res.writeHead(304, { etag: info.etag, "accept-ranges": offsetField ? "bytes" : "none" });
    res.end();
    return true;
  };

  let offset = 0;
  let limit = 0;
  if (range && "suffix" in range) {
    const info = await probe();
    if (notModified(info)) return;
    if (range.suffix === 0) return unsatisfiable(req, res, info.size);
    offset = Math.max(0, info.size - range.suffix);
  } else if (range) {
    offset = range.first;
    limit = range.last === undefined ? 0 : range.last - range.first + 1;
  } else {
    // No Range: the request's own offset/limit (query parameters) still apply, with a 200.
    offset = Number(offsetField ? (readFieldPath(method.input, request, offsetField) ?? 0) : 0);
    limit = Number(limitField ? (readFieldPath(method.input, request, limitField) ?? 0) : 0);
  }

  let stream = await open(range ? offset : undefined, range ? limit : undefined);
  try {
    let info;
    try {
      info = describe(await stream.first());
    } catch (err) {
      // A range that starts past the end: the RPC refuses the offset; say how large the file is.
      if (!range || !(err instanceof ConnectError) || err.code !== Code.OutOfRange) throw err;
      const whole = await probe();
      if (!notModified(whole)) unsatisfiable(req, res, whole.size);
      return;
    }
    if (notModified(info)) return;
    const ifRange = header(req, "if-range");
    if (range && ifRange !== undefined && ifRange.trim() !== info.etag) {
      // The client's copy is another version: it gets the whole current one instead of a piece.
      stream.cancel();
      range = undefined;
      offset = 0;
      limit = 0;
      stream = await open(0, 0);
      info = describe(await stream.first());
    }
    if (range && offset >= info.size) return unsatisfiable(req, res, info.size);

    const end = limit > 0 ? Math.min(info.size, offset + limit) : info.size;
    const length = Math.max(0, end - offset);
    const headers: Record<string, string> = {
      "accept-ranges": offsetField ? "bytes" : "none",
      ...(info.etag ? { etag: info.etag } : {}),
      "content-type": info.type,
      "content-length": String(length),
      "content-disposition": ctx.disposition(info.type, info.filename),
      "x-content-type-options": "nosniff",
      "content-security-policy": "sandbox",
    };
    if (range) headers["content-range"] = `bytes ${offset}-${end - 1}/${info.size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD") return void res.end();

    let sent = 0;
    for (let next = await stream.next(); !next.done; next = await stream.next()) {
      const data = readFieldPath(method.output, next.value, contentPath);
      if (!(data instanceof Uint8Array) || data.byteLength === 0) continue;
      sent += data.byteLength;
      if (sent > length) throw new ConnectError(`${method.name} sent more bytes than it announced`, Code.Internal);
      await write(res, data);
    }
    // Fewer bytes than Content-Length said: the client must see a broken response, not a short file.
    if (sent !== length) abortResponse(res);
    else res.end();
  } finally {
    stream.cancel();
  }
}

/** An RPC's response stream that can be cut off at any point, ending the handler behind it too. */
interface CancellableStream {
  /** The first message; throws the RPC's error, or when there is none. */
  first(): Promise<Message>;
  next(): Promise<IteratorResult<Message>>;
  /** Stops the call: the in-process handler sees its request aborted and ends. Idempotent. */
  cancel(): void;
}

async function openStream(
  ctx: DownloadContext,
  base: Message,
  offsetField: DescField[] | undefined,
  limitField: DescField[] | undefined,
  offset: number | undefined,
  limit: number | undefined,
): Promise<CancellableStream> {
  const input = ctx.method.method.input;
  const request = clone(input, base);
  if (offset !== undefined && offsetField) setNumber(input, request, offsetField, offset);
  if (limit !== undefined && limitField) setNumber(input, request, limitField, limit);
  // A signal of its own: the method may be waiting (on a read) when the stream is cut off, and
  // returning from its output takes effect only once that wait is over.
  const abort = new AbortController();
  const { signal } = ctx.init;
  const onRequestAbort = () => abort.abort(signal.reason);
  signal.addEventListener("abort", onRequestAbort, { once: true });
  const messages = ctx.method.call(createAsyncIterable([request]), { ...ctx.init, signal: abort.signal })[Symbol.asyncIterator]();
  let cancelled = false;
  return {
    async first() {
      const first = await messages.next();
      if (first.done) throw new ConnectError("the download answered no message", Code.Internal);
      return first.value;
    },
    next: () => messages.next(),
    cancel() {
      if (cancelled) return;
      cancelled = true;
      signal.removeEventListener("abort", onRequestAbort);
      abort.abort(new ConnectError("the download was cut off", Code.Canceled));
      void messages.return?.().catch(() => undefined);
    },
  };
}

function unsatisfiable(req: NodeRequest, res: NodeResponse, size: number): void {
  const err = new ConnectError(`the range starts at or past the end of the ${size} bytes`, Code.OutOfRange);
  sendJson(req, res, 416, restError(err).body, { "content-range": `bytes */${size}` });
}

function setNumber(schema: DescMethod["input"], message: Message, path: DescField[], value: number): void {
  const leaf = path.at(-1)!;
  const is64 = leaf.fieldKind === "scalar" && [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64].includes(leaf.scalar);
  if (path.length !== 1) throw new ConnectError(`range field ${path.map((f) => f.name).join(".")} must be a top-level field`, Code.Internal);
  reflect(schema, message).set(leaf, is64 ? BigInt(value) : value);
}
