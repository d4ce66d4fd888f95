/**
 * Queries of the content_removals table: ids whose content (a blob, a session's partial content)
 * this database made and no longer needs. Ids are added by the statements that let go of content
 * (upload-sessions.ts, file-rows.ts), in the same transaction; the content is then removed, and the id
 * forgotten, by the caller at once or by the sweep later. Nothing else is ever removed, so content
 * of another database, or content this one never knew, is never touched.
 */
import type { Sql } from "./database.js";

/** What of an id's content may still be needed, read right before removing it. */
export interface RemovalCandidate {
  id: string;
  /** How many times the id was let go of when this was read (see forgetRemovals). */
  version: number;
  /** A file refers to the blob of this id: keep the blob. */
  blobInUse: boolean;
  /** An upload session is still being uploaded into this id: keep its partial content. */
  partialInUse: boolean;
}

/**
 * Up to `limit` ids waiting for their content to be removed, in id order after `afterId` (keyset
 * pagination, so that one whose removal keeps failing never holds up the ones after it).
 */
export async function pendingRemovals(sql: Sql, limit: number, afterId = ""): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from content_removals ${afterId ? sql`where id > ${afterId}::uuid` : sql``} order by id limit ${limit}`;
  return rows.map((r) => r.id);
}

/**
 * The given ids, with what of their content is still in use. Recorded ids are never referred to
 * again, so both flags are false unless a bug says otherwise; they are checked all the same,
 * because removing content is the one thing that cannot be undone.
 */
export async function removalCandidates(sql: Sql, ids: readonly string[]): Promise<RemovalCandidate[]> {
  if (ids.length === 0) return [];
  return sql<RemovalCandidate[]>`
    select r.id, r.version,
           exists (select 1 from files f where f.blob_id = r.id) as blob_in_use,
           exists (select 1 from upload_sessions s where s.id = r.id and s.completed_at is null) as partial_in_use
      from content_removals r
     where r.id = any(${sql.array(ids as string[])}::uuid[])`;
}

/**
 * Forgets ids whose content is gone, each only if it was not let go of again since it was read
 * (its version is still the one read): a completion's partial and a delete's blob share an id.
 */
export async function forgetRemovals(
  sql: Sql,
  removed: readonly Pick<RemovalCandidate, "id" | "version">[],
): Promise<void> {
  if (removed.length === 0) return;
  await sql`
    delete from content_removals r
     using unnest(${sql.array(removed.map((c) => c.id))}::uuid[], ${sql.array(removed.map((c) => c.version))}::int[]) as f(id, version)
     where r.id = f.id and r.version = f.version`;
}

/** How many ids wait for their content to be removed (for fsck and tests). */
export async function countPendingRemovals(sql: Sql): Promise<number> {
  const [{ count }] = await sql<{ count: number }[]>`select count(*)::int as count from content_removals`;
  return count;
}
