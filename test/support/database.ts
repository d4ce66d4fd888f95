/**
 * A fresh schema per test file in the tests' Postgres, so files run in parallel without seeing each
 * other's rows, and a migrated pool on it.
 */
import { randomBytes } from "node:crypto";
import { connectDatabase, migrate, type Sql } from "../../src/store/database.js";

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
  const schema = "test_" + randomBytes(6).toString("hex");
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
