/**
 * Opaque page tokens of ListFiles. A token carries the last key of the page it ends, and the bucket
 * and prefix it was issued for, so that it cannot silently be applied to another listing.
 */
import { Code, ConnectError } from "@connectrpc/connect";

/** Where the next page of a listing starts. */
export interface PageCursor {
  bucket: string;
  prefix: string;
  /** The last key of the previous page. */
  after: string;
}

/** Encodes a cursor as a URL-safe token. */
export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, b: cursor.bucket, p: cursor.prefix, a: cursor.after })).toString("base64url");
}

/** Decodes a token for the given listing; throws INVALID_ARGUMENT if it is malformed or foreign. */
export function decodePageToken(token: string, bucket: string, prefix: string): PageCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const t = parsed as { v?: unknown; b?: unknown; p?: unknown; a?: unknown } | undefined;
  if (!t || t.v !== 1 || typeof t.b !== "string" || typeof t.p !== "string" || typeof t.a !== "string" || t.a === "") {
    throw new ConnectError("page_token is invalid: pass the next_page_token of the previous page unchanged", Code.InvalidArgument);
  }
  if (t.b !== bucket || t.p !== prefix) {
    throw new ConnectError("page_token belongs to another listing: keep bucket and prefix the same while paging", Code.InvalidArgument);
  }
  return { bucket, prefix, after: t.a };
}
