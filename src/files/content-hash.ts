/**
 * SHA-256 of uploads, computed while the bytes stream in (no second pass over the file).
 *
 * Node's native SHA-256 runs at about 1.7 GB/s here but cannot export its state; a WASM hasher whose
 * state can be saved measured 0.3 GB/s, which would cap every upload below that. So the running
 * hash stays in memory between the requests of one session (this cache), and only when it is not
 * there — after a restart, or when the session moves to another server process — is the committed
 * prefix hashed again, once, from the partial content.
 */
import { createHash, type Hash } from "node:crypto";
import type { BlobStore } from "../store/blobs/blob-store.js";

/** A running hash and the offset it has consumed up to. */
export interface RunningHash {
  hash: Hash;
  offset: number;
}

/** Keeps running hashes of sessions between their requests. */
export interface HashCache {
  /**
   * The running hash of a session at exactly `offset`: taken out of the cache when it has one at
   * that offset, else computed from the first `offset` bytes of the partial content.
   */
  take(uploadId: string, offset: number, blobs: BlobStore): Promise<RunningHash>;
  /** Keeps a session's running hash for its next request. */
  put(uploadId: string, running: RunningHash): void;
  /** Forgets a session. */
  drop(uploadId: string): void;
}

/** Creates a cache of at most `capacity` running hashes (least recently stored leave first). */
export function createHashCache(capacity = 1000): HashCache {
  const entries = new Map<string, RunningHash>();
  return {
    async take(uploadId, offset, blobs) {
      const cached = entries.get(uploadId);
      entries.delete(uploadId); // a request owns its hash while it writes
      if (cached && cached.offset === offset) return cached;
      const hash = createHash("sha256");
      for await (const chunk of blobs.readPartial(uploadId, 0, offset)) hash.update(chunk);
      return { hash, offset };
    },
    put(uploadId, running) {
      entries.delete(uploadId);
      entries.set(uploadId, running);
      if (entries.size > capacity) entries.delete(entries.keys().next().value!);
    },
    drop(uploadId) {
      entries.delete(uploadId);
    },
  };
}
