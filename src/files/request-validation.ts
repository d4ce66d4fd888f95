/**
 * The request validation of FilesService: everything a client names or declares — buckets, keys,
 * key prefixes, mime types, checksums, sizes, session ids.
 * Each check returns the normalised value or throws INVALID_ARGUMENT with a message that says what
 * was wrong. Names never become filesystem paths (content lives under server-generated ids), but
 * they are kept strict so that they are safe in URLs and listings too.
 */
import { Code, ConnectError } from "@connectrpc/connect";

import { contentIdPattern } from "../store/blobs/blob-store.js";
import { ErrorReason, errorWithReason } from "./error-reasons.js";

/** A bucket name: 1–63 characters of a-z A-Z 0-9 _ - (API key grants name buckets the same way). */
export const bucketPattern = /^[A-Za-z0-9_-]{1,63}$/;
// The characters of a key, and of a prefix of one; the segment rules come on top (checkKey).
const keyCharacters = "[A-Za-z0-9_\\-/.]";
const keyPattern = new RegExp(`^${keyCharacters}{1,1024}$`);
const prefixPattern = new RegExp(`^${keyCharacters}{0,1024}$`);
// type/subtype with RFC 6838 restricted-name characters, then optional "; param=value" parts; a
// quoted value holds visible ASCII only (it becomes a Content-Type header).
const mimePattern =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}([ \t]*;[ \t]*[A-Za-z0-9!#$&^_.+-]+=("[\x20\x21\x23-\x5b\x5d-\x7e]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;
const sha256Pattern = /^[0-9a-fA-F]{64}$/;

/** The mime type used when a client declares none. */
export const defaultMimeType = "application/octet-stream";

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A quoted, shortened rendering of client input for error messages. */
function show(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Checks a bucket name: 1–63 characters of a-z A-Z 0-9 _ -. */
export function checkBucket(bucket: string): string {
  if (bucket === "") throw invalid("bucket is required");
  if (!bucketPattern.test(bucket)) {
    throw invalid(`bucket ${show(bucket)} is invalid: use 1-63 characters of a-z A-Z 0-9 _ -`);
  }
  return bucket;
}

/** Checks a key: 1–1024 characters of a-z A-Z 0-9 _ - / . with no empty, "." or ".." segment. */
export function checkKey(key: string): string {
  if (key === "") throw invalid("key is required");
  if (!keyPattern.test(key)) {
    throw invalid(`key ${show(key)} is invalid: use 1-1024 characters of a-z A-Z 0-9 _ - / .`);
  }
  for (const segment of key.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw invalid(`key ${show(key)} is invalid: it has an empty, "." or ".." segment or a leading or trailing "/"`);
    }
  }
  return key;
}

/** Checks a listing's key prefix: at most 1024 key characters (it need not be a whole key). */
export function checkPrefix(prefix: string): string {
  if (!prefixPattern.test(prefix))
    throw invalid("prefix is invalid: use at most 1024 characters of a-z A-Z 0-9 _ - / .");
  return prefix;
}

/** Checks a mime type ("type/subtype", optional parameters); empty becomes application/octet-stream. */
export function checkMimeType(mimeType: string): string {
  if (mimeType === "") return defaultMimeType;
  if (mimeType.length > 255 || !mimePattern.test(mimeType)) {
    throw invalid(`mime_type ${show(mimeType)} is invalid: expected type/subtype such as image/jpeg`);
  }
  return mimeType;
}

/** Checks an optional promised SHA-256 in hex; returns it lowercase, or undefined when empty. */
export function checkSha256(sha256: string): string | undefined {
  if (sha256 === "") return undefined;
  if (!sha256Pattern.test(sha256)) throw invalid(`sha256 ${show(sha256)} is invalid: expected 64 hex digits`);
  return sha256.toLowerCase();
}

/** Checks a declared size against the configured maximum; answers it as a number. */
export function checkSize(size: bigint, maxFileSize: number): number {
  if (size < 0n) throw invalid(`size ${size} is invalid: expected a byte count of 0 or more`);
  if (size > BigInt(maxFileSize)) {
    throw errorWithReason(
      `size ${size} is larger than the maximum file size of ${maxFileSize} bytes`,
      Code.ResourceExhausted,
      ErrorReason.FILE_TOO_LARGE,
    );
  }
  return Number(size);
}

/** Checks an upload session id (a lowercase UUID, as the server hands them out). */
export function checkUploadId(uploadId: string): string {
  if (uploadId === "") throw invalid("upload_id is required");
  if (!contentIdPattern.test(uploadId)) throw invalid(`upload_id ${show(uploadId)} is not a session id`);
  return uploadId;
}
