/**
 * Repairs what is safe to repair, and only that: orphaned blobs and partial content are removed,
 * content waiting for the sweep is removed now, partial content longer than its session's committed
 * offset is cut back to it, and a server's record of a fault is forgotten once the content is whole
 * again or its file is gone. Each step
 * first asks the database again, as the sweeper does, because a live server may have changed
 * things since the check: content that a row refers to now is left alone, and a session being
 * written is left to its writer. File rows, and content that a row refers to, are never touched:
 * those findings are for an operator.
 */
import { removeContent } from "../files/content-removal.js";
import { createLogger } from "../log.js";
import { forgetContentFaults } from "../store/postgres/content-faults.js";
import { findFileByBlob, unreferencedBlobIds } from "../store/postgres/file-rows.js";
import { findSession, idsWithoutOpenSession } from "../store/postgres/upload-sessions.js";
import type { ConsistencyDeps, ConsistencyReport, Finding } from "./consistency.js";

/** Repairs the repairable findings of `report`, recording in each what was done. */
export async function repairFindings(deps: ConsistencyDeps, report: ConsistencyReport): Promise<void> {
  for (const finding of report.findings) {
    if (!finding.repairable) continue;
    try {
      finding.repair = await repair(deps, finding, report);
    } catch (err) {
      finding.repair = `failed: ${(err as { code?: string }).code ?? (err as Error).message}`;
    }
  }
}

async function repair(
  { sql, blobs, locks }: ConsistencyDeps,
  finding: Finding,
  report: ConsistencyReport,
): Promise<string> {
  switch (finding.kind) {
    case "pending-removal": {
      const removed = await removeContent({ sql, blobs, log: createLogger({ silent: true }) }, [finding.id]);
      return removed === 1 ? "removed" : "left: could not remove it now";
    }
    case "reported-fault": {
      const damaged = report.findings.some((f) => f.severity === "problem" && f.id === finding.id);
      if (damaged) return "left: the content is still damaged";
      await forgetContentFaults(sql, [finding.id]);
      return (await findFileByBlob(sql, finding.id))
        ? "forgotten: the content is whole now"
        : "forgotten: the file is gone";
    }
    case "orphan-blob":
      if ((await unreferencedBlobIds(sql, [finding.id])).length === 0) return "left: referred to again";
      await blobs.delete(finding.id);
      return "removed";
    case "orphan-partial":
      if ((await idsWithoutOpenSession(sql, [finding.id])).length === 0) return "left: its session exists again";
      await blobs.discardPartial(finding.id);
      return "removed";
    case "long-partial": {
      // Under the session lock: a writer appends past the committed offset all the time.
      const lease = await locks.tryAcquire(finding.id);
      if (!lease) return "left: being written";
      try {
        const session = await findSession(sql, finding.id);
        const size = await blobs.partialSize(finding.id);
        if (!session || size === undefined || size <= session.committedOffset) return "left: changed since the check";
        // Opening at the committed offset cuts off what lies past it, exactly as the next request would.
        await (await blobs.openAppend(finding.id, session.committedOffset, session.size)).close();
        return `truncated to ${session.committedOffset} bytes`;
      } finally {
        await lease.release();
      }
    }
    default:
      return "left: needs an operator";
  }
}
