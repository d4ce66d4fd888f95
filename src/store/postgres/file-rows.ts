/**
 * Queries of the files table: the visible files. A row appears only in the same transaction that
 * completes its upload session (see completeUpload), so a half-written file is never listed. Content
 * a statement here lets go of is recorded in content_removals in the same transaction.
 */
import type { Sql } from "./database.js";
import type { SessionRow } from "./upload-sessions.js";

/** A stored file as the database has it. */
export interface FileRow {
  bucket: string;
  key: string;
  mimeType: string;
  bytes: number;
  sha256: Buffer;
  blobId: string;
  createdAt: Date;
}

/** Reads one file. */
export async function findFile(sql: Sql, bucket: string, key: string): Promise<FileRow | undefined> {
  const [row] = await sql<FileRow[]>`select * from files where bucket = ${bucket} and key = ${key}`;
  return row;
}

/** Options of {@link listFiles}. */
export interface ListOptions {
  prefix: string;
  /** Only keys after this one (the last key of the previous page). */
  after: string;
  limit: number;
}

/**
 * A page of a bucket's files in key order. Keyset pagination: each page starts after the last key
 * of the one before, so concurrent inserts never shift or repeat entries.
 */
export async function listFiles(sql: Sql, bucket: string, { prefix, after, limit }: ListOptions): Promise<FileRow[]> {
  // starts_with keeps the prefix literal (no LIKE wildcards); the range lets the index do the work.
  const from = after > prefix ? after : prefix;
  return sql<FileRow[]>`
    select * from files
     where bucket = ${bucket} and key ${after > prefix ? sql`>` : sql`>=`} ${from}
       and starts_with(key, ${prefix})
     order by key
     limit ${limit}`;
}

/**
 * A page of every file of every bucket in (bucket, key) order, after `after` (keyset pagination),
 * for checks of the whole store.
 */
export async function allFiles(
  sql: Sql,
  after: { bucket: string; key: string } | undefined,
  limit: number,
): Promise<FileRow[]> {
  return sql<FileRow[]>`
    select * from files
     ${after ? sql`where (bucket, key) > (${after.bucket}::bucket_name, ${after.key}::object_key)` : sql``}
     order by bucket, key
     limit ${limit}`;
}

/**
 * Every bucket name in order. A loose index scan: one index probe per bucket rather than a scan of
 * every file, however many files the buckets hold.
 */
export async function listBuckets(sql: Sql): Promise<string[]> {
  const rows = await sql<{ bucket: string }[]>`
    with recursive buckets(bucket) as (
      (select bucket from files order by bucket limit 1)
      union all
      select (select f.bucket from files f where f.bucket > b.bucket order by f.bucket limit 1)
        from buckets b where b.bucket is not null
    )
    select bucket from buckets where bucket is not null`;
  return rows.map((r) => r.bucket);
}

/** Reads the file whose content is the blob of this id (the file an upload session became). */
export async function findFileByBlob(sql: Sql, blobId: string): Promise<FileRow | undefined> {
  const [row] = await sql<FileRow[]>`select * from files where blob_id = ${blobId}`;
  return row;
}

/** Deletes a file's row and records its blob for removal, answering the row. */
export async function deleteFile(sql: Sql, bucket: string, key: string): Promise<FileRow | undefined> {
  const [row] = await sql<FileRow[]>`
    with deleted as (
      delete from files where bucket = ${bucket} and key = ${key} returning *
    ), recorded as (
      insert into content_removals (id) select blob_id from deleted on conflict (id) do update set version = content_removals.version + 1
    )
    select * from deleted`;
  return row;
}

/** What {@link completeUpload} did. */
export interface Completion {
  file: FileRow;
  /** The blob of the file this one replaced, to be removed now that the commit is done. */
  replacedBlobId?: string;
}

/**
 * The atomic step of an upload: in one transaction the session is marked completed and the file row
 * appears (or replaces the previous version of bucket/key). The session's partial content and the
 * replaced version's blob are recorded for removal. Answers undefined when the session is gone or
 * completed already.
 */
export async function completeUpload(sql: Sql, session: SessionRow, sha256: Buffer): Promise<Completion | undefined> {
  return sql.begin(async (tx) => {
    const ended = await tx`
      update upload_sessions set completed_at = now()
       where id = ${session.id} and writer_epoch = ${session.writerEpoch} and completed_at is null and expires_at > now()
      returning id`;
    if (ended.length === 0) return undefined;
    // The partial content: the blob is a link to the same bytes, so only the name goes.
    await tx`insert into content_removals (id) values (${session.id}) on conflict (id) do update set version = content_removals.version + 1`;
    // Completions of one bucket/key take turns: `for update` cannot lock a row another completion
    // is inserting right now, and its blob would then be replaced without being let go of.
    await tx`select pg_advisory_xact_lock(hashtext('files-service file'), hashtext(${`${session.bucket}/${session.key}`}))`;
    const [previous] = await tx<{ blobId: string }[]>`
      select blob_id from files where bucket = ${session.bucket} and key = ${session.key} for update`;
    const [file] = await tx<FileRow[]>`
      insert into files (bucket, key, mime_type, bytes, sha256, blob_id)
      values (${session.bucket}, ${session.key}, ${session.mimeType}, ${session.size}, ${sha256}, ${session.id})
      on conflict (bucket, key) do update
        set mime_type = excluded.mime_type, bytes = excluded.bytes, sha256 = excluded.sha256,
            blob_id = excluded.blob_id, created_at = excluded.created_at
      returning *`;
    if (previous)
      await tx`insert into content_removals (id) values (${previous.blobId}) on conflict (id) do update set version = content_removals.version + 1`;
    return { file, replacedBlobId: previous?.blobId };
  });
}

/**
 * Of the given blob ids, those that no file and no open session refers to (a session whose
 * completion was interrupted has its blob already), one snapshot.
 */
export async function unreferencedBlobIds(sql: Sql, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string }[]>`
    select id from unnest(${sql.array(ids as string[])}::uuid[]) as candidates(id)
     where not exists (select 1 from files where blob_id = candidates.id)
       and not exists (
         select 1 from upload_sessions where upload_sessions.id = candidates.id and completed_at is null)`;
  return rows.map((r) => r.id);
}
