/**
 * Repairs what is safe to repair, and only that: orphaned blobs and partial content are removed,
 * and partial content longer than its session's committed offset is cut back to it. Each step
 * first asks the database again, as the sweeper does, because a live server may have changed
 * things since the check: content that a row refers to now is left alone, and a session being
 * written is left to its writer. File rows, and content that a row refers to, are never touched:
 * those findings are for an operator.
 */
import { unreferencedBlobIds } from "../store/files.js";
import { findSession, idsWithoutSession } from "../store/upload-sessions.js";
import type { ConsistencyDeps, ConsistencyReport, Finding } from "./consistency.js";

/** Repairs the repairable findings of `report`, recording in each what was done. */
export async function repairFindings(deps: ConsistencyDeps, report: ConsistencyReport): Promise<void> {
  for (const finding of report.findings) {
    if (!finding.repairable) continue;
    try {
      finding.repair = await repair(deps, finding);
    } catch (err) {
      finding.repair = `failed: ${(err as { code?: string }).code ?? (err as Error).message}`;
    }
  }
}

async function repair({ sql, blobs, locks }: ConsistencyDeps, finding: Finding): Promise<string> {
  switch (finding.kind) {
    case "orphan-blob":
      if ((await unreferencedBlobIds(sql, [finding.id])).length === 0) return "left: referred to again";
      await blobs.delete(finding.id);
      return "removed";
    case "orphan-partial":
      if ((await idsWithoutSession(sql, [finding.id])).length === 0) return "left: its session exists again";
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
        await (await blobs.openAppend(finding.id, session.committedOffset)).close();
        return `truncated to ${session.committedOffset} bytes`;
      } finally {
        await lease.release();
      }
    }
    default:
      return "left: needs an operator";
  }
}
