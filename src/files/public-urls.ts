/**
 * Absolute URLs for sessions and files: from the configured public base URL, else from the Host
 * (HTTP/1.1) or :authority (HTTP/2) the client used to reach us.
 */
import { createContextKey, createContextValues, type ContextValues } from "@connectrpc/connect";
import type http from "node:http";
import type http2 from "node:http2";

/** The base URL (scheme://host[:port]) of the request being handled. */
export const kBaseUrl = createContextKey<string>("http://localhost", { description: "public base URL" });

/** Context values for connectNodeAdapter: the base URL derived once per request. */
export function baseUrlContext(
  publicUrl: string,
): (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues {
  return (req) => {
    const authority = "authority" in req && req.authority ? req.authority : req.headers.host;
    // Only a plausible host[:port] is echoed back: a crafted Host header must not shape our URLs.
    const host =
      typeof authority === "string" && /^[A-Za-z0-9.\-[\]:]{1,255}$/.test(authority) ? authority : "localhost";
    return createContextValues().set(kBaseUrl, publicUrl || `http://${host}`);
  };
}

/** URL of an upload session. */
export function sessionUrl(base: string, id: string): string {
  return `${base}/v1/files/session:${id}`;
}

/** URL of a file's content (bucket and key characters are all URL-safe). */
export function contentUrl(base: string, bucket: string, key: string): string {
  return `${base}/v1/files/${bucket}/${key}:content`;
}
