/**
 * SHA-256 of uploads, computed while the bytes stream in (no second pass over the file).
 *
 * Two hashers, chosen by what the blob store can do. Node's native SHA-256 runs at about 1.7 GB/s
 * here but cannot export its state: between the requests of one session its running hash stays in
 * memory (the cache below), and when it is not there — after a restart, or on another server
 * process — the committed prefix is hashed again, once, from the partial content. A store that
 * cannot read partial content back (S3 keeps no readable copy of a multipart upload's parts) gets
 * a hasher whose state is saved with every committed offset (resumable-sha256.ts): any server
 * resumes from it.
 */
import { createHash, type Hash } from "node:crypto";
import type { BlobStore } from "../store/blobs/blob-store.js";
import { resumeSha256 } from "./resumable-sha256.js";

/** A SHA-256 being computed over an upload's bytes. */
export interface RunningSha256 {
  update(data: Uint8Array): void;
  /** The hash of everything so far (ends the hasher). */
  digest(): Buffer;
  /** The state to keep with the committed offset, for a hasher that can resume from it; else undefined. */
  save(): Uint8Array | undefined;
  /**
   * An independent copy, for a hasher that cannot save its state (the writer's way back when a
   * request is refused); a resumable one goes back to its saved state instead.
   */
  copy(): RunningSha256;
}

/** A running hash and the offset it has consumed up to. */
export interface RunningHash {
  hash: RunningSha256;
  offset: number;
}

/** Keeps running hashes of sessions between their requests. */
export interface HashCache {
  /**
   * The running hash of a session at exactly `offset`: taken out of the cache when it has one at
   * that offset, else resumed from `savedState` (the state kept with that offset), else computed
   * from the first `offset` bytes of the partial content.
   */
  take(uploadId: string, offset: number, blobs: BlobStore, savedState?: Uint8Array | null): Promise<RunningHash>;
  /** Keeps a session's running hash for its next request. */
  put(uploadId: string, running: RunningHash): void;
  /** Forgets a session. */
  drop(uploadId: string): void;
}

/**
 * Creates a cache of at most `capacity` running hashes (least recently stored leave first);
 * `resumable` makes every new hash one whose state can be saved (for stores without readPartial).
 */
export function createHashCache(options: { resumable?: boolean; capacity?: number } = {}): HashCache {
  const { resumable = false, capacity = 1000 } = options;
  const entries = new Map<string, RunningHash>();
  return {
    async take(uploadId, offset, blobs, savedState) {
      const cached = entries.get(uploadId);
      entries.delete(uploadId); // a request owns its hash while it writes
      if (cached && cached.offset === offset) return cached;
      if (offset > 0 && savedState) return { hash: await resumeSha256(savedState), offset };
      const hash = resumable ? await resumeSha256() : nativeSha256(createHash("sha256"));
      if (offset === 0) return { hash, offset };
      if (!blobs.readPartial)
        throw new Error(
          `upload ${uploadId} has no saved hash state at offset ${offset}, and its content cannot be read back`,
        );
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

function nativeSha256(hash: Hash): RunningSha256 {
  return {
    update: (data) => hash.update(data),
    digest: () => hash.digest(),
    save: () => undefined,
    copy: () => nativeSha256(hash.copy()),
  };
}
