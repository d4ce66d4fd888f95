/**
 * CORS, so that pages on other origins can call the service from a browser: Connect and gRPC-Web
 * (connect-web), REST and the upload URLs, all on the one port. In front of everything else: a
 * preflight is answered here, before authentication or the database, and a request from an origin
 * that is not allowed gets no CORS headers (the browser then keeps the answer from the page).
 * Connect's own lists of the headers its protocols send and read are used as they are, with the
 * service's own beside them (the key, ranges, resumable-upload headers).
 */
import { cors } from "@connectrpc/connect";
import type { NodeHandler, NodeRequest, NodeResponse } from "../transcoding/index.js";

// What the REST face and resumable-upload clients send, beyond Connect's protocols.
const serviceRequestHeaders = [
  "Authorization",
  "Range",
  "If-Range",
  "If-None-Match",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Metadata",
  "Upload-Checksum",
  "Upload-Complete",
  "Upload-Draft-Interop-Version",
  "Tus-Resumable",
  "X-HTTP-Method-Override",
  "Content-Disposition",
  "X-Requested-With",
];
// What a page must be able to read: offsets to resume from, where a new upload is, downloads' metadata.
const serviceResponseHeaders = [
  "Upload-Offset",
  "Upload-Length",
  "Upload-Expires",
  "Upload-Complete",
  "Upload-Limit",
  "Location",
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Tus-Checksum-Algorithm",
  "ETag",
  "Content-Range",
  "Content-Disposition",
  "Content-Length",
  "Accept-Ranges",
  "Retry-After",
  "WWW-Authenticate",
  "X-Request-Id",
];
const allowedMethods = [
  ...new Set([...cors.allowedMethods, "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
];
const allowedHeaders = [...new Set([...cors.allowedHeaders, ...serviceRequestHeaders])].join(", ");
const exposedHeaders = [...new Set([...cors.exposedHeaders, ...serviceResponseHeaders])].join(", ");
// Browsers keep a preflight's answer this long (Chromium caps it at 2 hours).
const maxAgeSeconds = 7200;

/**
 * `handler` with CORS for `allowedOrigins`: exact origins (`https://app.example.com`), or `*` for
 * any (only when the operator says so). With none, the handler is returned as it is.
 */
export function withCors(handler: NodeHandler, allowedOrigins: readonly string[]): NodeHandler {
  if (allowedOrigins.length === 0) return handler;
  const anyOrigin = allowedOrigins.includes("*");
  const origins = new Set(allowedOrigins.map((o) => o.toLowerCase().replace(/\/+$/, "")));
  return (req: NodeRequest, res: NodeResponse) => {
    const origin = req.headers.origin;
    const allowed = typeof origin === "string" && (anyOrigin || origins.has(origin.toLowerCase()));
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    // Whether an answer carries CORS headers depends on the origin: a cache must not give one
    // origin's answer (a download's, say) to another.
    if (!anyOrigin) res.setHeader("Vary", "Origin");
    if (!allowed) {
      if (preflight) {
        // Not for this origin: no CORS headers, so the browser refuses; nothing else runs.
        res.writeHead(204);
        res.end();
        return;
      }
      handler(req, res);
      return;
    }
    res.setHeader("Access-Control-Allow-Origin", anyOrigin ? "*" : origin);
    if (preflight) {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": allowedMethods.join(", "),
        "Access-Control-Allow-Headers": allowedHeaders,
        "Access-Control-Max-Age": String(maxAgeSeconds),
      });
      res.end();
      return;
    }
    res.setHeader("Access-Control-Expose-Headers", exposedHeaders);
    handler(req, res);
  };
}
