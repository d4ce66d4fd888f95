/**
 * tus 1.0.0 (https://tus.io/protocols/resumable-upload) under `/tus/`, on FilesService's upload
 * sessions: a tus upload *is* a session (its id is the session's id), so tus-js-client, Uppy and
 * every tus SDK upload with the same durable offsets, SHA-256, locks, expiry and keys as the other
 * faces, and GetUploadSession shows the same upload.
 *
 *   OPTIONS /tus/         the protocol's versions, extensions, largest size and checksums
 *   POST    /tus/         creation (Upload-Length, Upload-Metadata), with the first bytes if sent
 *   HEAD    /tus/{id}     the committed offset
 *   PATCH   /tus/{id}     appends at Upload-Offset (409 when it is not the committed offset)
 *   DELETE  /tus/{id}     termination (the session's CancelUploadSession)
 *
 * Extensions: creation, creation-with-upload, termination, expiration, checksum (sha256, sha1,
 * md5; a request whose content does not match keeps none of it and answers 460). Not served:
 * creation-defer-length (a session is created with its size, which a file's quota and the disk
 * space check need up front) and concatenation (a file is one session, written in order).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { FilesService } from "../../../gen/files/v1/files_pb.js";
import { ErrorReason } from "../../files/error-reasons.js";
import { errorWithHttpStatus } from "../../transcoding/index.js";
import type { NodeRequest, NodeResponse } from "../../transcoding/index.js";
import {
  type Exchange,
  expiresHeader,
  httpStatusOf,
  lengthHeader,
  type ResumableOptions,
  serveExchange,
} from "../http-exchange.js";
import { formatUploadMetadata, MetadataError, metadataKeys, parseUploadMetadata, pick } from "./tus-metadata.js";

/** Where tus is served. */
export const tusPath = "/tus/";

const version = "1.0.0";
const extensions = "creation,creation-with-upload,termination,expiration,checksum";
const checksumAlgorithms = ["sha256", "sha1", "md5"];
const offsetOctetStream = "application/offset+octet-stream";

// The tus statuses of the service's reasons; other errors get their code's status.
const statusForReason: Readonly<Record<string, number>> = {
  [ErrorReason.UPLOAD_OFFSET_MISMATCH]: 409,
  [ErrorReason.UPLOAD_COMPLETE]: 409,
  [ErrorReason.UPLOAD_SESSION_BUSY]: 423,
  [ErrorReason.REQUEST_CHECKSUM_MISMATCH]: 460,
  [ErrorReason.FILE_TOO_LARGE]: 413,
  [ErrorReason.CONTENT_PAST_DECLARED_SIZE]: 413,
  [ErrorReason.STORAGE_FULL]: 507,
};

/**
 * A handler for tus requests: it serves a request under `/tus/` (answering true) and leaves any
 * other to the next handler (answering false).
 */
export function createTusHandler(options: ResumableOptions): (req: NodeRequest, res: NodeResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== tusPath.slice(0, -1) && !path.startsWith(tusPath)) return false;
    const id = path.slice(tusPath.length);
    serveExchange(options, req, res, (exchange) => serve(options, exchange, id), fail);
    return true;
  };
}

async function serve(options: ResumableOptions, exchange: Exchange, id: string): Promise<void> {
  const { res } = exchange;
  // Browsers and proxies that cannot send PATCH or DELETE send POST with the method named here.
  const sent = exchange.req.method ?? "GET";
  const method = (sent === "POST" ? (exchange.header("x-http-method-override") ?? sent) : sent).toUpperCase();
  if (method === "OPTIONS") {
    res.writeHead(204, {
      "tus-resumable": version,
      "tus-version": version,
      "tus-extension": extensions,
      "tus-max-size": String(options.maxFileSize),
      "tus-checksum-algorithm": checksumAlgorithms.join(","),
    });
    res.end();
    return;
  }
  if (exchange.header("tus-resumable") !== version)
    throw errorWithHttpStatus(
      `Tus-Resumable must be ${version}, the only version served (the header was ${exchange.header("tus-resumable") === undefined ? "missing" : JSON.stringify(exchange.header("tus-resumable"))})`,
      Code.FailedPrecondition,
      412,
    );
  if (id === "") {
    if (method === "POST") return create(options, exchange);
    throw notAllowed(method, "POST, OPTIONS");
  }
  if (id.includes("/")) throw new ConnectError(`no tus upload at ${tusPath}${id}`, Code.NotFound);
  if (method === "HEAD") return head(exchange, id);
  if (method === "PATCH") return patch(options, exchange, id);
  if (method === "DELETE") {
    await exchange.calls.cancel(id);
    answer(exchange, 204, {});
    return;
  }
  throw notAllowed(method, "HEAD, PATCH, DELETE, OPTIONS");
}

/** Creation: a session from Upload-Length and Upload-Metadata; creation-with-upload appends the body. */
async function create(options: ResumableOptions, exchange: Exchange): Promise<void> {
  if (exchange.header("upload-defer-length") !== undefined)
    throw badRequest("Upload-Defer-Length is not supported: declare the size with Upload-Length");
  const length = lengthHeader(exchange, "Upload-Length", badRequest);
  if (length === undefined) throw badRequest("Upload-Length is required");
  let metadata: Map<string, string>;
  try {
    metadata = parseUploadMetadata(exchange.header("upload-metadata"));
  } catch (err) {
    if (err instanceof MetadataError) throw badRequest(err.message);
    throw err;
  }
  options.checkBeforeBody?.(FilesService.method.createUploadSession, exchange.header);
  // The first bytes' headers are checked before the session exists, so a refusal leaves none behind.
  const withUpload = hasBody(exchange);
  const checksum = withUpload ? appendHeaders(exchange) : undefined;
  const session = await exchange.calls.create({
    bucket: pick(metadata, metadataKeys.bucket),
    key: pick(metadata, metadataKeys.key),
    mimeType: pick(metadata, metadataKeys.mimeType) || "application/octet-stream",
    size: BigInt(length),
    sha256: pick(metadata, metadataKeys.sha256),
  });
  const location = `${exchange.baseUrl}${tusPath}${session.id}`;
  // An empty file is complete as created: tus clients send nothing more for one.
  if (!withUpload && length > 0) {
    answer(exchange, 201, { location, "upload-expires": expiresHeader(session) });
    return;
  }
  try {
    const after = await exchange.calls.append(session.id, 0, { checksum });
    answer(exchange, 201, {
      location,
      "upload-offset": String(after.offset),
      "upload-expires": expiresHeader(after),
    });
  } catch (err) {
    // The upload exists even though its first bytes were refused: say where, so a client may resume.
    exchange.res.setHeader("location", location);
    throw err;
  }
}

async function head(exchange: Exchange, id: string): Promise<void> {
  const session = await exchange.calls.get(id);
  answer(exchange, 200, {
    "upload-offset": String(session.offset),
    "upload-length": String(session.size),
    "upload-metadata": formatUploadMetadata({ bucket: session.bucket, key: session.key, filetype: session.mimeType }),
    "upload-expires": expiresHeader(session),
    "cache-control": "no-store",
  });
}

async function patch(options: ResumableOptions, exchange: Exchange, id: string): Promise<void> {
  const offset = lengthHeader(exchange, "Upload-Offset", badRequest);
  if (offset === undefined) throw badRequest("Upload-Offset is required");
  options.checkBeforeBody?.(FilesService.method.uploadContent, exchange.header);
  const session = await exchange.calls.append(id, offset, { checksum: appendHeaders(exchange) });
  answer(exchange, 204, { "upload-offset": String(session.offset), "upload-expires": expiresHeader(session) });
}

/** Checks an append's headers: the body is `application/offset+octet-stream`; answers its checksum if given. */
function appendHeaders(exchange: Exchange) {
  const type = exchange.header("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== offsetOctetStream)
    throw errorWithHttpStatus(
      `the body's Content-Type must be ${offsetOctetStream}, not ${type ?? "missing"}`,
      Code.InvalidArgument,
      415,
    );
  return checksumOf(exchange.header("upload-checksum"));
}

/** Upload-Checksum: `<algorithm> <base64 digest>`. */
function checksumOf(header: string | undefined) {
  if (header === undefined) return undefined;
  const [algorithm, digest, extra] = header.trim().split(/\s+/);
  if (!algorithm || !digest || extra !== undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest))
    throw badRequest(
      `Upload-Checksum must be "<algorithm> <base64 digest>", not ${JSON.stringify(header.slice(0, 80))}`,
    );
  if (!checksumAlgorithms.includes(algorithm))
    throw badRequest(`Upload-Checksum's algorithm ${algorithm} is not supported: use ${checksumAlgorithms.join(", ")}`);
  return { algorithm, digest: Buffer.from(digest, "base64") };
}

/** Whether the request has a body (creation-with-upload). */
function hasBody(exchange: Exchange): boolean {
  const { req } = exchange;
  const length = exchange.header("content-length");
  if (length !== undefined) return length.trim() !== "0";
  // HTTP/2 says whether a body follows by ending the stream with the headers or not.
  if ("stream" in req) return !req.stream.endAfterHeaders;
  return exchange.header("transfer-encoding") !== undefined;
}

/** An answer with tus's headers (no body: every tus answer but an error has none). */
function answer(exchange: Exchange, status: number, headers: Record<string, string | undefined>): void {
  const out: Record<string, string> = { "tus-resumable": version };
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  // An empty body said as such (HTTP/1.1 would otherwise send a chunked empty one).
  if (status !== 204) out["content-length"] = "0";
  exchange.res.writeHead(status, out);
  exchange.res.end();
}

/** An error as tus servers send one: its status, and what was wrong as plain text. */
function fail(exchange: Exchange, reason: unknown): void {
  const { req, res } = exchange;
  const err = ConnectError.from(reason);
  const status = httpStatusOf(err, statusForReason);
  const headers: Record<string, string> = { "tus-resumable": version, "content-type": "text/plain; charset=utf-8" };
  if (status === 412) headers["tus-version"] = version;
  for (const name of ["upload-offset", "retry-after", "www-authenticate", "allow"]) {
    const value = err.metadata.get(name);
    if (value !== null) headers[name] = value;
  }
  // A body still arriving will not be read: say so, so that the client stops sending (HTTP/1.1).
  if (req.httpVersionMajor === 1 && !req.complete) headers.connection = "close";
  const text = Buffer.from(`${err.rawMessage}\n`);
  headers["content-length"] = String(text.length);
  // tus's own status has no phrase Node knows; HTTP/2 has no phrases at all.
  if (status === 460 && req.httpVersionMajor === 1) res.writeHead(status, "Checksum Mismatch", headers);
  else res.writeHead(status, headers);
  if (req.method === "HEAD") res.end();
  else res.end(text);
}

function badRequest(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

function notAllowed(method: string, allow: string): ConnectError {
  const err = errorWithHttpStatus(`${method} is not allowed here; use ${allow}`, Code.Unimplemented, 405);
  err.metadata.set("allow", allow);
  return err;
}
