/**
 * Removes content this database has let go of (recorded in content_removals by the statement that
 * let go of it): a deleted or replaced file's blob, a cancelled, expired or completed session's
 * partial content. Handlers start it right after their commit and answer without waiting for it
 * (a RemovalQueue); the sweep calls it for whatever is still recorded (the process died in between,
 * or the removal failed). Only recorded ids are touched, so content that another database owns, or
 * that this one never knew, is never removed.
 */
import type { BlobStore } from "../store/blobs/blob-store.js";
import { forgetRemovals, removalCandidates, type RemovalCandidate } from "../store/postgres/content-removals.js";
import type { Sql } from "../store/postgres/database.js";
import type { Logger } from "../log.js";

/** What removing content needs. */
export interface RemovalDeps {
  sql: Sql;
  blobs: BlobStore;
  log: Logger;
}

/**
 * Removes the content of the given recorded ids that nothing uses, then forgets them; answers how
 * many it removed. A failure leaves the id recorded for the next sweep and is logged, not thrown:
 * the caller's own work is committed already.
 */
export async function removeContent(deps: RemovalDeps, ids: readonly string[]): Promise<number> {
  const { sql, blobs, log } = deps;
  let candidates: RemovalCandidate[];
  try {
    candidates = await removalCandidates(sql, ids);
  } catch (err) {
    log.warn("could not look up content to remove; the sweep will", { ids: ids.length, err: err });
    return 0;
  }
  const removed: RemovalCandidate[] = [];
  for (const candidate of candidates) {
    const { id, blobInUse, partialInUse } = candidate;
    try {
      if (partialInUse) {
        // A session still being uploaded into: recorded by mistake. Keep its content, and say so.
        log.error("content recorded for removal belongs to an open upload session; left in place", { id });
      } else {
        await blobs.discardPartial(id);
        // A completed session's blob is its file's content.
        if (!blobInUse) await blobs.delete(id);
      }
      removed.push(candidate);
    } catch (err) {
      log.warn("could not remove content; the sweep will retry", { id, err: err });
    }
  }
  await forgetRemovals(sql, removed).catch((err) =>
    log.warn("could not forget removed content; the sweep will", { err: err }),
  );
  return removed.length;
}

/**
 * Removals that handlers start after their commit and do not wait for: what a client asked for is
 * done once the statement that let go of the content has committed (no reader can reach it from
 * then on), and under a load of uploads the removal's two queries and its unlinks more than doubled
 * DeleteFile's time (`npm run load`: 400–600 ms of the server's own time, two thirds of it removal).
 */
export interface RemovalQueue {
  /** Starts removing the given recorded ids; failures are logged and left to the sweep. */
  remove(ids: readonly string[]): void;
  /** Resolves once every removal started so far has ended (at shutdown, before the database closes). */
  idle(): Promise<void>;
}

/** A RemovalQueue over `deps`. */
export function createRemovalQueue(deps: RemovalDeps): RemovalQueue {
  const running = new Set<Promise<unknown>>();
  return {
    remove(ids) {
      const removal = removeContent(deps, ids).finally(() => running.delete(removal));
      running.add(removal);
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}
