/**
 * Queries of the content_faults table: content a server found missing or damaged while serving it,
 * kept for operators and `npm run fsck` (a log line alone is easily missed).
 */
import type { Sql } from "./database.js";
import type { FileRow } from "./file-rows.js";

/** A recorded fault. */
export interface ContentFaultRow {
  blobId: string;
  bucket: string;
  key: string;
  problem: string;
  times: number;
  firstSeen: Date;
  lastSeen: Date;
}

/** Records (or counts once more) a fault of a file's content. */
export async function recordContentFault(sql: Sql, file: FileRow, problem: string): Promise<void> {
  await sql`
    insert into content_faults (blob_id, bucket, key, problem) values (${file.blobId}, ${file.bucket}, ${file.key}, ${problem})
    on conflict (blob_id) do update
      set problem = excluded.problem, times = content_faults.times + 1, last_seen = now()`;
}

/** Every recorded fault, most recent first. */
export async function contentFaults(sql: Sql): Promise<ContentFaultRow[]> {
  return sql<ContentFaultRow[]>`select * from content_faults order by last_seen desc`;
}

/** Forgets the faults of these blobs (their content is whole again, or their file is gone). */
export async function forgetContentFaults(sql: Sql, blobIds: readonly string[]): Promise<void> {
  if (blobIds.length === 0) return;
  await sql`delete from content_faults where blob_id = any(${sql.array(blobIds as string[])}::uuid[])`;
}
