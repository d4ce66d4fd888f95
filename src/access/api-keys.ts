/**
 * API keys: who may read and who may write which buckets.
 *
 * Keys come from the environment (API_KEYS) and/or a JSON file (--api-keys-file). Only their
 * SHA-256 digests are kept in memory, a file may hold digests instead of keys, and a presented key
 * is hashed and compared with every digest in constant time, so neither timing nor a heap dump
 * gives a key away. Keys are never logged: errors name a key by its name or position only.
 *
 *   API_KEYS="<key>:<r|w|rw>:<bucket,bucket|*> <key>:…"        (whitespace or ";" between entries)
 *   api-keys.json: [{"name": "ci", "key": "…" | "key_sha256": "<hex>", "read": ["*"], "write": ["cats"]}]
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { bucketPattern } from "../files/request-validation.js";

/** What one key may do: bucket names, or "*" for every bucket. */
export interface Grant {
  name: string;
  /**
   * A stable id of the key for per-key limits: a prefix of its SHA-256 (which a key file may hold
   * anyway), so that renaming or reordering entries moves nobody's sessions to another budget.
   */
  id: string;
  read: ReadonlySet<string>;
  write: ReadonlySet<string>;
}

/** The configured keys. */
export interface ApiKeys {
  /** False when no key is configured: the service then runs open (on loopback only). */
  readonly enabled: boolean;
  /** The grant of a presented key, or undefined when it is not one of ours. */
  find(presented: string): Grant | undefined;
}

const keyPattern = /^[A-Za-z0-9._~+/=-]{16,256}$/;
// A grant names buckets as FilesService does, or "*" for all of them.
const isGrantedBucket = (name: string) => name === "*" || bucketPattern.test(name);

interface Entry {
  digest: Buffer;
  grant: Grant;
}

/** Builds the key store from API_KEYS text and a key file path (either may be empty). */
export function loadApiKeys(envText: string, filePath: string): ApiKeys {
  const entries = [...parseEnv(envText), ...(filePath ? parseFile(filePath) : [])];
  return {
    enabled: entries.length > 0,
    find(presented) {
      const digest = sha256(presented);
      let found: Grant | undefined;
      // Every digest is compared, whatever matched: the time taken says nothing about the key.
      for (const e of entries) if (timingSafeEqual(e.digest, digest)) found ??= e.grant;
      return found;
    },
  };
}

function parseEnv(text: string): Entry[] {
  return text
    .split(/[\s;]+/)
    .filter(Boolean)
    .map((item, i) => {
      const name = `API_KEYS entry ${i + 1}`;
      const parts = item.split(":");
      if (parts.length !== 3) throw new Error(`${name}: expected <key>:<r|w|rw>:<buckets>`);
      const [key, access, buckets] = parts;
      if (!/^(r|w|rw|wr)$/.test(access)) throw new Error(`${name}: access must be r, w or rw`);
      const list = buckets.split(",");
      return entry(name, key, undefined, access.includes("r") ? list : [], access.includes("w") ? list : []);
    });
}

function parseFile(filePath: string): Entry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(filePath, "utf8"));
  } catch (err) {
    throw new Error(`--api-keys-file: cannot read ${filePath} as JSON (${(err as Error).message.split("\n")[0]})`);
  }
  if (!Array.isArray(parsed)) throw new Error("--api-keys-file: expected a JSON array of keys");
  return parsed.map((raw: unknown, i) => {
    const item = (raw ?? {}) as {
      name?: unknown;
      key?: unknown;
      key_sha256?: unknown;
      read?: unknown;
      write?: unknown;
    };
    const name = typeof item.name === "string" && item.name ? item.name : `key ${i + 1} of --api-keys-file`;
    const list = (v: unknown, field: string) => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || !v.every((b) => typeof b === "string"))
        throw new Error(`${name}: "${field}" must be a list of bucket names or "*"`);
      return v as string[];
    };
    const key = typeof item.key === "string" ? item.key : undefined;
    const digest = typeof item.key_sha256 === "string" ? item.key_sha256 : undefined;
    return entry(name, key, digest, list(item.read, "read"), list(item.write, "write"));
  });
}

function entry(
  name: string,
  key: string | undefined,
  hexDigest: string | undefined,
  read: string[],
  write: string[],
): Entry {
  if ((key === undefined) === (hexDigest === undefined))
    throw new Error(`${name}: give exactly one of "key" and "key_sha256"`);
  if (key !== undefined && !keyPattern.test(key))
    throw new Error(`${name}: a key must be 16-256 characters of A-Z a-z 0-9 . _ ~ + / = -`);
  if (hexDigest !== undefined && !/^[0-9a-fA-F]{64}$/.test(hexDigest))
    throw new Error(`${name}: key_sha256 must be 64 hex digits`);
  for (const b of [...read, ...write])
    if (!isGrantedBucket(b)) throw new Error(`${name}: ${JSON.stringify(b)} is not a bucket name or "*"`);
  if (read.length + write.length === 0) throw new Error(`${name}: grants nothing (give read and/or write buckets)`);
  const digest = key !== undefined ? sha256(key) : Buffer.from(hexDigest!, "hex");
  return {
    digest,
    grant: { name, id: `key:${digest.toString("hex").slice(0, 16)}`, read: new Set(read), write: new Set(write) },
  };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
