/**
 * Queries of the deployment table: who this database (schema) is, and which blob store holds its
 * content. See store/blob-ownership.ts for how the two are bound together.
 */
import type { Sql } from "./database.js";

/** This database's identity and the store its content lives in. */
export interface DeploymentRow {
  databaseId: string;
  /** Null until a server first binds the database to a blob store. */
  blobStoreId: string | null;
  /** The cluster, database and schema this row lives in (not copied by a dump), when Postgres tells it. */
  instance?: string;
}

/** Reads this database's identity (made by the migrations). */
export async function readDeployment(sql: Sql): Promise<DeploymentRow> {
  const [row] = await sql<DeploymentRow[]>`select database_id, blob_store_id from deployment`;
  if (!row) throw new Error("the deployment row is missing: the database was not migrated by this service");
  return { ...row, instance: await databaseInstance(sql) };
}

/**
 * What a dump and restore does not copy: the cluster's system identifier, the database's OID (and
 * the schema, where a copy may sit beside the original). A clone or restored copy of this database
 * has the same deployment row but another instance.
 */
async function databaseInstance(sql: Sql): Promise<string | undefined> {
  try {
    const [row] = await sql<{ instance: string }[]>`
      select (select system_identifier from pg_control_system())::text || '/' ||
             (select oid from pg_database where datname = current_database())::text || '/' ||
             current_schema() as instance`;
    return row.instance;
  } catch {
    return undefined; // a Postgres that does not let us read it: the id alone decides
  }
}

/**
 * Records the blob store this database's content lives in, if the record is still `previous`
 * (compare-and-set); answers false when another server changed it meanwhile.
 */
export async function bindBlobStore(sql: Sql, blobStoreId: string, previous: string | null): Promise<boolean> {
  const rows = await sql`
    update deployment set blob_store_id = ${blobStoreId}
     where blob_store_id is not distinct from ${previous}::uuid or blob_store_id = ${blobStoreId}
    returning blob_store_id`;
  return rows.length > 0;
}

/** Whether this database refers to content at all (a file, or a session still being uploaded). */
export async function refersToContent(sql: Sql): Promise<boolean> {
  const [{ refers }] = await sql<{ refers: boolean }[]>`
    select exists (select 1 from files) or exists (select 1 from upload_sessions where completed_at is null) as refers`;
  return refers;
}

/** Whether any of the given content ids is a file's blob or an open session's partial content. */
export async function refersToAnyOf(sql: Sql, ids: readonly string[]): Promise<boolean> {
  if (ids.length === 0) return false;
  const [{ refers }] = await sql<{ refers: boolean }[]>`
    with candidates(id) as (select unnest(${sql.array(ids as string[])}::uuid[]))
    select exists (select 1 from files join candidates c on files.blob_id = c.id)
        or exists (select 1 from upload_sessions join candidates c on upload_sessions.id = c.id) as refers`;
  return refers;
}
