/**
 * Opaque page tokens of ListFiles. A token carries the last key of the page it ends, and the bucket
 * and prefix it was issued for, so that it cannot silently be applied to another listing.
 *
 * A token comes back from the client, so it is input like any other: its key goes into a query,
 * and is held to the rules of keys (request-validation.ts) before it does. Its bucket and prefix must equal the
 * request's, which the service has checked.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { checkKey } from "./request-validation.js";

/** Where the next page of a listing starts. */
export interface PageCursor {
  bucket: string;
  prefix: string;
  /** The last key of the previous page. */
  after: string;
}

// The longest token we issue: a 63-character bucket, a 1024-character prefix and key, in base64.
const maxTokenLength = 4096;

/** Encodes a cursor as a URL-safe token. */
export function encodePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, b: cursor.bucket, p: cursor.prefix, a: cursor.after })).toString(
    "base64url",
  );
}

/** Decodes a token for the given listing; throws INVALID_ARGUMENT if it is malformed or foreign. */
export function decodePageToken(token: string, bucket: string, prefix: string): PageCursor {
  let parsed: unknown;
  try {
    parsed = token.length <= maxTokenLength ? JSON.parse(Buffer.from(token, "base64url").toString("utf8")) : undefined;
  } catch {
    parsed = undefined;
  }
  const t = parsed as { v?: unknown; b?: unknown; p?: unknown; a?: unknown } | undefined;
  // A key we issued is a valid key within its listing's prefix; anything else was not made here.
  if (t?.v !== 1 || typeof t.b !== "string" || typeof t.p !== "string" || !isKey(t.a) || !t.a.startsWith(t.p)) {
    throw new ConnectError(
      "page_token is invalid: pass the next_page_token of the previous page unchanged",
      Code.InvalidArgument,
    );
  }
  if (t.b !== bucket || t.p !== prefix) {
    throw new ConnectError(
      "page_token belongs to another listing: keep bucket and prefix the same while paging",
      Code.InvalidArgument,
    );
  }
  return { bucket, prefix, after: t.a };
}

function isKey(value: unknown): value is string {
  if (typeof value !== "string") return false;
  try {
    checkKey(value);
    return true;
  } catch {
    return false;
  }
}
