/**
 * Queries of the upload_sessions table. A session that has expired is treated as gone by every
 * query here, before the sweep removes it. A completed session stays (read-only) until it expires,
 * so that a client whose final answer was lost can still learn that its upload completed.
 * Statements that let go of a session's content record its id in content_removals, in the same
 * statement, so that the content is removed even if the process dies right after.
 */
import type { Sql } from "./database.js";

/** An upload session as stored. */
export interface SessionRow {
  id: string;
  bucket: string;
  key: string;
  mimeType: string;
  size: number;
  committedOffset: number;
  expectedSha256: Buffer | null;
  createdAt: Date;
  expiresAt: Date;
  /** When the upload completed (its file became visible); null while it is open. */
  completedAt: Date | null;
  /** Who opened it (an API key's id), or null when the service runs without keys. */
  owner: string | null;
  /** Bumped by each request that takes the session's lock: the fencing token of its writer. */
  writerEpoch: number;
  /** The running SHA-256's saved state at the committed offset, where one is kept (content-hash.ts). */
  hashState: Buffer | null;
}

/** What a new session is made of. */
export type NewSession = Pick<SessionRow, "id" | "bucket" | "key" | "mimeType" | "size" | "expectedSha256"> & {
  owner?: string | null;
};

/** How many open sessions there may be, in all and per owner, and how many bytes an owner may declare and not yet send. */
export interface SessionLimits {
  maxOpen: number;
  maxOpenPerOwner: number;
  maxPendingBytesPerOwner: number;
}

/** What was open when a session was refused, to tell the caller which limit it reached. */
export interface OpenUsage {
  /** Open sessions in all. */
  open: number;
  /** Open sessions of the owner. */
  ownerOpen: number;
  /** Bytes the owner's open sessions declared and have not committed yet. */
  ownerPending: number;
}

/**
 * Inserts a session at offset 0 that expires `ttlSeconds` from now, unless that would pass one of
 * the limits (then answers what stood in the way). An owner's limits apply only to sessions that
 * have an owner. The counts and the insert are one statement; concurrent creators may overshoot a
 * limit by a few (as many as create at once), never by many.
 */
export async function insertSession(
  sql: Sql,
  session: NewSession,
  ttlSeconds: number,
  limits: SessionLimits,
): Promise<{ row: SessionRow } | { refused: OpenUsage }> {
  const owner = session.owner ?? null;
  const [row] = await sql<SessionRow[]>`
    insert into upload_sessions (id, bucket, key, mime_type, size, expected_sha256, owner, expires_at)
    select ${session.id}, ${session.bucket}, ${session.key}, ${session.mimeType}, ${session.size},
           ${session.expectedSha256}, ${owner}::text, now() + make_interval(secs => ${ttlSeconds})
     where (select count(*) from upload_sessions where expires_at > now() and completed_at is null) < ${limits.maxOpen}
       and (${owner}::text is null or (
             select count(*) < ${limits.maxOpenPerOwner} and coalesce(sum(size - committed_offset), 0) + ${session.size} <= ${limits.maxPendingBytesPerOwner}
               from upload_sessions where owner = ${owner}::text and expires_at > now() and completed_at is null))
    returning *`;
  return row ? { row } : { refused: await openUsage(sql, owner) };
}

/** Open sessions in all, and the owner's open sessions and bytes declared but not yet committed. */
async function openUsage(sql: Sql, owner: string | null): Promise<OpenUsage> {
  const [usage] = await sql<OpenUsage[]>`
    select (select count(*) from upload_sessions where expires_at > now() and completed_at is null)::int as open,
           count(*)::int as owner_open,
           coalesce(sum(size - committed_offset), 0)::bigint as owner_pending
      from upload_sessions
     where owner = ${owner}::text and expires_at > now() and completed_at is null`;
  return usage;
}

/** Reads a live (unexpired) session, open or completed. */
export async function findSession(sql: Sql, id: string): Promise<SessionRow | undefined> {
  const [row] = await sql<SessionRow[]>`
    select * from upload_sessions where id = ${id} and expires_at > now()`;
  return row;
}

/**
 * Takes a live session for a writer that has just locked it: bumps its writer epoch, answering the
 * session with the epoch this writer holds (undefined when there is no live session).
 */
export async function claimSession(sql: Sql, id: string): Promise<SessionRow | undefined> {
  const [row] = await sql<SessionRow[]>`
    update upload_sessions set writer_epoch = writer_epoch + 1
     where id = ${id} and expires_at > now()
    returning *`;
  return row;
}

/**
 * Moves the committed offset of an open session from `from` to `to` (compare-and-set, on the
 * writer epoch `epoch` too), keeps `hashState` (the running hash at `to`, or null where none is
 * kept) and extends the expiry. Answers undefined when the session is gone or
 * completed, its offset is no longer `from`, or another writer has claimed it since.
 */
export async function moveOffset(
  sql: Sql,
  id: string,
  epoch: number,
  from: number,
  to: number,
  ttlSeconds: number,
  hashState: Uint8Array | null = null,
): Promise<SessionRow | undefined> {
  const state = hashState && Buffer.from(hashState.buffer, hashState.byteOffset, hashState.byteLength);
  const [row] = await sql<SessionRow[]>`
    update upload_sessions
       set committed_offset = ${to}, hash_state = ${state},
           expires_at = now() + make_interval(secs => ${ttlSeconds})
     where id = ${id} and writer_epoch = ${epoch} and committed_offset = ${from}
       and expires_at > now() and completed_at is null
    returning *`;
  return row;
}

/**
 * Ends an open session without a file (cancelled, or its content failed its promised checksum),
 * answering it as it was; its content is recorded for removal. Answers undefined when there is no
 * such open session.
 */
export async function discardSession(sql: Sql, id: string): Promise<SessionRow | undefined> {
  const [row] = await sql<SessionRow[]>`
    with ended as (
      delete from upload_sessions where id = ${id} and expires_at > now() and completed_at is null returning *
    ), recorded as (
      insert into content_removals (id) select id from ended on conflict (id) do update set version = content_removals.version + 1
    )
    select * from ended`;
  return row;
}

/** A page of the open sessions in id order, after `afterId` (keyset pagination; "" for the first). */
export async function openSessions(sql: Sql, afterId: string, limit: number): Promise<SessionRow[]> {
  return sql<SessionRow[]>`
    select * from upload_sessions
     where expires_at > now() and completed_at is null ${afterId ? sql`and id > ${afterId}` : sql``}
     order by id
     limit ${limit}`;
}

/** Ids of sessions that expired, open or completed, oldest first. */
export async function expiredSessionIds(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from upload_sessions where expires_at <= now() order by expires_at limit ${limit}`;
  return rows.map((r) => r.id);
}

/**
 * Deletes a session if it has expired; true when it did. The content of one that never completed
 * is recorded for removal (a completed one's content is its file's).
 */
export async function deleteExpiredSession(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql`
    with ended as (
      delete from upload_sessions where id = ${id} and expires_at <= now() returning id, completed_at
    ), recorded as (
      insert into content_removals (id) select id from ended where completed_at is null on conflict (id) do update set version = content_removals.version + 1
    )
    select id from ended`;
  return rows.length > 0;
}

/** How many sessions are open: neither complete nor expired (the count the session limit is held to). */
export async function countOpenSessions(sql: Sql): Promise<number> {
  const [row] = await sql<{ open: number }[]>`
    select count(*)::int as open from upload_sessions where expires_at > now() and completed_at is null`;
  return row.open;
}

/** Of the given ids, those that no open session is being uploaded into (one snapshot). */
export async function idsWithoutOpenSession(sql: Sql, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string }[]>`
    select id from unnest(${sql.array(ids as string[])}::uuid[]) as candidates(id)
     where not exists (
       select 1 from upload_sessions where upload_sessions.id = candidates.id and completed_at is null)`;
  return rows.map((r) => r.id);
}
