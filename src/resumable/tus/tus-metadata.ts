/**
 * tus's Upload-Metadata header — `key base64value` pairs separated by commas, a value optional —
 * and what a session is created from it: which keys name the bucket, the key, the type and the
 * promised SHA-256. Clients name them differently (tus-js-client's examples send `filename` and
 * `filetype`, Uppy sends `name` and `type` too), so each field is read from the first key present.
 */

/** The keys each session field is read from, first present wins. */
export const metadataKeys = {
  bucket: ["bucket"],
  key: ["key", "filename", "name"],
  mimeType: ["filetype", "type", "contentType"],
  sha256: ["sha256"],
} as const;

/** An Upload-Metadata header that does not parse. */
export class MetadataError extends Error {}

/** Parses Upload-Metadata (absent: no pairs); throws MetadataError on a malformed one. */
export function parseUploadMetadata(header: string | undefined): Map<string, string> {
  const pairs = new Map<string, string>();
  if (header === undefined || header.trim() === "") return pairs;
  for (const item of header.split(",")) {
    const [key, value, extra] = item.trim().split(" ");
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key))
      throw new MetadataError(`Upload-Metadata has a malformed pair ${JSON.stringify(item.trim().slice(0, 60))}`);
    if (pairs.has(key)) throw new MetadataError(`Upload-Metadata names ${key} twice`);
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      throw new MetadataError(`Upload-Metadata's ${key} is not base64`);
    pairs.set(key, value === undefined ? "" : Buffer.from(value, "base64").toString("utf8"));
  }
  return pairs;
}

/** The first of `keys` that the metadata holds, or "" if none. */
export function pick(metadata: Map<string, string>, keys: readonly string[]): string {
  for (const key of keys) {
    const value = metadata.get(key);
    if (value !== undefined) return value;
  }
  return "";
}

/** Formats pairs as Upload-Metadata (empty values are left out). */
export function formatUploadMetadata(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .filter(([, value]) => value !== "")
    .map(([key, value]) => `${key} ${Buffer.from(value, "utf8").toString("base64")}`)
    .join(",");
}
