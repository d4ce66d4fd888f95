/**
 * 104 (Upload Resumption Supported): an interim response that tells a client where its upload can
 * be resumed before the request has ended. Node sends 100, 102 and 103 for us, not other 1xx: over
 * HTTP/1.1 the status line goes on the socket before the response's own head (as Node's
 * writeEarlyHints does), over HTTP/2 it is an informational HEADERS frame.
 */
import type { NodeResponse } from "../../transcoding/index.js";

/** Sends a 104 with `headers` unless the final response has begun; false when it could not. */
export function sendUploadResumptionSupported(res: NodeResponse, headers: Record<string, string>): boolean {
  if (res.headersSent) return false;
  // Values are ours (a URL we built, numbers): still, nothing may end a header line early.
  if (Object.values(headers).some((value) => /[\r\n]/.test(value))) return false;
  if ("stream" in res) {
    if (res.stream.destroyed || res.stream.closed) return false;
    res.stream.additionalHeaders({ ":status": 104, ...headers });
    return true;
  }
  // HTTP/1.0 has no interim responses (RFC 9110, 15.2).
  if (res.req.httpVersionMinor === 0) return false;
  const socket = res.socket;
  if (!socket || socket.destroyed) return false;
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`HTTP/1.1 104 Upload Resumption Supported\r\n${lines.join("")}\r\n`);
  return true;
}
