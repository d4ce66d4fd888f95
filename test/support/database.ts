/**
 * A fresh schema per test file in the tests' Postgres, so files run in parallel without seeing each
 * other's rows, and a migrated pool on it.
 */
import { randomBytes } from "node:crypto";
import { connectDatabase, migrate, type Sql } from "../../src/store/postgres/database.js";
import { lockKey } from "../../src/store/postgres/session-locks.js";

/** A migrated schema of its own. */
export interface TestDatabase {
  url: string;
  schema: string;
  sql: Sql;
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>;
}

/** The tests' Postgres URL (global setup guarantees it is set). */
export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set: run the tests through jest (global setup finds a Postgres)");
  return url;
}

/** Creates and migrates a new schema. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const url = databaseUrl();
  const schema = `test_${randomBytes(6).toString("hex")}`;
  const sql = connectDatabase({ url, schema, max: 5 });
  await migrate(sql, schema);
  return {
    url,
    schema,
    sql,
    async drop() {
      await sql`drop schema if exists ${sql(schema)} cascade`;
      await sql.end({ timeout: 5 });
    },
  };
}

/**
 * The backend that holds the advisory lock of an upload session (a request writing it), if any:
 * what tests wait on instead of guessing with a sleep, and how they find one lock connection.
 * pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), with
 * objsubid 1.
 */
export async function sessionLockHolder(sql: Sql, sessionId: string): Promise<number | undefined> {
  const key = BigInt.asUintN(64, BigInt(lockKey(sessionId)));
  const rows = await sql<{ pid: number }[]>`
    select l.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid
     where l.locktype = 'advisory' and l.granted and l.objsubid = 1
       and l.database = (select oid from pg_database where datname = current_database())
       and l.classid = ${String(key >> 32n)}::oid and l.objid = ${String(key & 0xffffffffn)}::oid
       and a.application_name = 'files-service session locks' and l.pid <> pg_backend_pid()`;
  if (rows.length > 1) throw new Error(`${rows.length} backends hold the lock of session ${sessionId}`);
  return rows[0]?.pid;
}
