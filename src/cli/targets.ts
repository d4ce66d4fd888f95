/** The CLI's ways to name things on the server: `bucket`, `bucket/prefix`, `bucket/key`. */
import { UsageError } from "./exit-codes.js";

/** A bucket and, after its first slash, a key or prefix (possibly empty). */
export interface Target {
  bucket: string;
  path: string;
}

/** Splits `bucket[/rest]` at its first slash. */
export function parseTarget(text: string): Target {
  const slash = text.indexOf("/");
  const bucket = slash < 0 ? text : text.slice(0, slash);
  if (bucket === "") throw new UsageError(`"${text}" does not start with a bucket name`);
  return { bucket, path: slash < 0 ? "" : text.slice(slash + 1) };
}

/** Splits `bucket/key`, which must name a key. */
export function parseFileTarget(text: string): Target {
  const target = parseTarget(text);
  if (target.path === "") throw new UsageError(`"${text}" names no key: expected bucket/key`);
  return target;
}

/** The key a local file is uploaded to under a prefix: `prefix/name` (one slash between them). */
export function keyUnder(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix.replace(/\/+$/, "")}/${name}`;
}
