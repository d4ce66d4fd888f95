/**
 * The periodic sweep: ends expired upload sessions, then removes the content this database has let
 * go of and not yet removed (content_removals: a process died between its commit and the removal,
 * or the removal failed). It never lists the blob store to find "orphans": content that no row
 * refers to may be another database's, or a bug's evidence, and is for `npm run fsck` to report.
 * Every step re-checks the database, so it is safe beside running uploads and beside the sweeps of
 * other server processes; still, of the replicas on one database only one sweeps at a time (the
 * others skip their turn), so that N replicas do not each list and remove the same content.
 */
import type { BlobStore } from "../store/blobs/blob-store.js";
import { pendingRemovals } from "../store/postgres/content-removals.js";
import type { Sql } from "../store/postgres/database.js";
import type { SessionLocks } from "../store/postgres/session-locks.js";
import { deleteExpiredSession, expiredSessionIds } from "../store/postgres/upload-sessions.js";
import type { Logger } from "../log.js";
import type { HashCache } from "./content-hash.js";
import { removeContent } from "./content-removal.js";

/** What one sweep did. */
export interface SweepReport {
  /** Expired sessions ended (open or completed). */
  expiredSessions: number;
  /** Ids whose content was removed. */
  removedContent: number;
}

/** A running sweeper. */
export interface Sweeper {
  /** Runs one sweep now (waiting for a running one first). */
  sweep(): Promise<SweepReport>;
  /** Stops the timer and waits for a running sweep. */
  stop(): Promise<void>;
}

const batch = 1000;

// The sweep's lock: a session lock under an id of its own (the fixed first 64 bits of this UUID,
// which the server's random session ids take with a chance of 2^-64).
export const sweepLockId = "5eed5eed-0000-4000-8000-000000000000";

/** What the sweeper needs; `onSweep` is told how each sweep ended (the metrics count them). */
export interface SweeperDeps {
  sql: Sql;
  blobs: BlobStore;
  locks: SessionLocks;
  hashes: HashCache;
  log: Logger;
  onSweep?: (outcome: { report: SweepReport } | { error: unknown }) => void;
}

/** Starts sweeping every `intervalSeconds` (0: only when `sweep` is called). */
export function startSweeper(deps: SweeperDeps, intervalSeconds: number): Sweeper {
  const { sql, blobs, locks, hashes, log, onSweep } = deps;
  let running: Promise<SweepReport> = Promise.resolve({ expiredSessions: 0, removedContent: 0 });

  async function sweepOnce(): Promise<SweepReport> {
    const report: SweepReport = { expiredSessions: 0, removedContent: 0 };
    const turn = await locks.tryAcquire(sweepLockId);
    if (!turn) return report; // another replica is sweeping
    try {
      return await sweepHolding(report);
    } finally {
      await turn.release();
    }
  }

  async function sweepHolding(report: SweepReport): Promise<SweepReport> {
    for (const id of await expiredSessionIds(sql, batch)) {
      const lease = await locks.tryAcquire(id);
      if (!lease) continue; // being written right now: its writer will find it expired
      try {
        // Records the content of one that never completed for removal, below.
        if (await deleteExpiredSession(sql, id)) {
          hashes.drop(id);
          report.expiredSessions++;
        }
      } finally {
        await lease.release();
      }
    }
    // Every recorded id once; one whose removal fails stays recorded for the next sweep.
    for (
      let ids = await pendingRemovals(sql, batch);
      ids.length > 0;
      ids = await pendingRemovals(sql, batch, ids.at(-1))
    ) {
      report.removedContent += await removeContent({ sql, blobs, log }, ids);
    }
    if (report.expiredSessions + report.removedContent > 0) log.info("sweep", { ...report });
    return report;
  }

  function sweep(): Promise<SweepReport> {
    running = running
      .catch(() => undefined)
      .then(sweepOnce)
      .then(
        (report) => {
          onSweep?.({ report });
          return report;
        },
        (error: unknown) => {
          onSweep?.({ error });
          throw error;
        },
      );
    return running;
  }

  const timer =
    intervalSeconds > 0
      ? setInterval(() => sweep().catch((err) => log.warn("sweep failed", { err: err })), intervalSeconds * 1000)
      : undefined;
  timer?.unref();

  return {
    sweep,
    async stop() {
      if (timer) clearInterval(timer);
      await running.catch(() => undefined);
    },
  };
}
