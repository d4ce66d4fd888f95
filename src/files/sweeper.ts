/**
 * The periodic sweep: removes expired upload sessions with their partial content, and content that
 * no row refers to (left behind by a crash between a file operation and its database commit).
 * Every step re-checks the database in one statement, so it is safe beside running uploads and
 * beside the sweeps of other server processes.
 */
import { inBatches, type BlobStore } from "../store/blob-store.js";
import type { Sql } from "../store/database.js";
import { unreferencedBlobIds } from "../store/files.js";
import type { SessionLocks } from "../store/session-locks.js";
import { deleteExpiredSession, expiredSessionIds, idsWithoutSession } from "../store/upload-sessions.js";
import type { Logger } from "../log.js";
import type { HashCache } from "./content-hash.js";

/** What one sweep removed. */
export interface SweepReport {
  expiredSessions: number;
  orphanPartials: number;
  orphanBlobs: number;
}

/** A running sweeper. */
export interface Sweeper {
  /** Runs one sweep now (waiting for a running one first). */
  sweep(): Promise<SweepReport>;
  /** Stops the timer and waits for a running sweep. */
  stop(): Promise<void>;
}

const batch = 1000;

/** Starts sweeping every `intervalSeconds` (0: only when `sweep` is called). */
export function startSweeper(
  deps: { sql: Sql; blobs: BlobStore; locks: SessionLocks; hashes: HashCache; log: Logger },
  intervalSeconds: number,
): Sweeper {
  const { sql, blobs, locks, hashes, log } = deps;
  let running: Promise<SweepReport> = Promise.resolve({ expiredSessions: 0, orphanPartials: 0, orphanBlobs: 0 });

  async function sweepOnce(): Promise<SweepReport> {
    const report: SweepReport = { expiredSessions: 0, orphanPartials: 0, orphanBlobs: 0 };
    for (const id of await expiredSessionIds(sql, batch)) {
      const lease = await locks.tryAcquire(id);
      if (!lease) continue; // being written right now: its writer will find it expired
      try {
        if (await deleteExpiredSession(sql, id)) {
          hashes.drop(id);
          await blobs.discardPartial(id);
          report.expiredSessions++;
        }
      } finally {
        await lease.release();
      }
    }
    // List first, then ask the database: content created after the listing is not considered.
    for await (const ids of inBatches(blobs.listPartials(), batch)) {
      for (const id of await idsWithoutSession(sql, ids)) {
        await blobs.discardPartial(id);
        report.orphanPartials++;
      }
    }
    for await (const ids of inBatches(blobs.listBlobs(), batch)) {
      for (const id of await unreferencedBlobIds(sql, ids)) {
        await blobs.delete(id);
        report.orphanBlobs++;
      }
    }
    if (report.expiredSessions + report.orphanPartials + report.orphanBlobs > 0) log.info("sweep", { ...report });
    return report;
  }

  function sweep(): Promise<SweepReport> {
    running = running.catch(() => undefined).then(sweepOnce);
    return running;
  }

  const timer =
    intervalSeconds > 0
      ? setInterval(() => sweep().catch((err) => log.warn("sweep failed", { error: String(err) })), intervalSeconds * 1000)
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
