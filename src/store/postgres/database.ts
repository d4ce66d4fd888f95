/**
 * The Postgres connection pool (postgres.js) and its migrations. Every table lives in one schema
 * (configurable, so that each test file can have its own) and every 64-bit integer column comes
 * back as a JS number: sizes and offsets stay below 2^53, which the config enforces.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";
import { projectFile } from "../../project-files.js";
import { errorCode, type StoreFailure } from "../store-failures.js";

/** A pool or a transaction: the query functions accept either. */
// biome-ignore lint/suspicious/noExplicitAny: postgres.js types custom column types this way; rows are typed per query.
export type Sql = postgres.Sql<any>;

/** Options for {@link connectDatabase}. */
export interface DatabaseOptions {
  url: string;
  schema: string;
  max: number;
  /** A name Postgres shows for these connections (pg_stat_activity.application_name). */
  applicationName?: string;
  /** Called whenever one of the pool's connections closes. */
  onclose?: (connectionId: number) => void;
  /** Keep connections forever (a connection that holds session locks must not be recycled). */
  keepConnections?: boolean;
  /**
   * Postgres cancels a statement that runs, or waits for a lock, longer than this (0 or unset:
   * never), so a stuck transaction elsewhere fails calls instead of hanging them.
   */
  statementTimeoutSeconds?: number;
  /** Seconds a new connection may take until Postgres is ready for queries (default {@link defaultConnectTimeoutSeconds}). */
  connectTimeoutSeconds?: number;
}

/** Seconds a connection may take to open when the options do not say. */
const defaultConnectTimeoutSeconds = 10;

/** Thrown by {@link connectDatabase} for a URL that is not one; the message never shows the URL. */
export class DatabaseUrlError extends Error {
  constructor(problem: string) {
    super(`${problem} (the value is not shown: it may hold a password)`);
    this.name = "DatabaseUrlError";
  }
}

/**
 * Opens a pool. It connects lazily and reconnects by itself after Postgres comes back, so a
 * database outage fails calls (mapped to UNAVAILABLE) without taking the process down. Throws
 * {@link DatabaseUrlError} when the URL is not a postgres:// URL.
 */
export function connectDatabase(options: DatabaseOptions): Sql {
  // postgres.js reads "localhost:5432/db" as a URL of scheme "localhost:" and quietly connects to
  // its defaults instead: only the two schemes Postgres knows are URLs here.
  if (!/^postgres(ql)?:\/\//i.test(options.url))
    throw new DatabaseUrlError("not a URL such as postgres://user:password@host:5432/database");
  try {
    return openPool(options);
  } catch (err) {
    throw new DatabaseUrlError(`does not parse as a URL: ${(err as Error).message}`);
  }
}

function openPool(options: DatabaseOptions): Sql {
  return postgres(options.url, {
    max: options.max,
    connect_timeout: options.connectTimeoutSeconds ?? defaultConnectTimeoutSeconds,
    ...(options.keepConnections ? { max_lifetime: null, idle_timeout: 0 } : { idle_timeout: 60 }),
    onclose: options.onclose,
    onnotice: () => {}, // "relation already exists, skipping" and the like are not news
    transform: postgres.camel,
    connection: {
      search_path: options.schema,
      application_name: options.applicationName ?? "files-service",
      ...(options.statementTimeoutSeconds ? { statement_timeout: options.statementTimeoutSeconds * 1000 } : {}),
    },
    types: {
      int8: { to: 20, from: [20], serialize: (n: number) => String(n), parse: (s: string) => Number(s) },
    },
  });
}

/**
 * Where a database URL points, for messages: `host:port/database`, never the user or password.
 * An unparsable URL is named as such rather than echoed (it may hold a password).
 */
export function databaseLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname.length > 1 ? u.pathname : "/"}`;
  } catch {
    return "(an unparsable URL)";
  }
}

/**
 * Waits until the pool has a working connection (one `select 1`), so that a wrong URL, a database
 * that is down or a wrong password stops a start at once, with a message that says where it tried
 * (host:port, never the password) and what failed.
 */
export async function checkConnection(sql: Sql): Promise<void> {
  try {
    await sql`select 1`;
  } catch (err) {
    const { host, port, path, database, user, connect_timeout: timeoutSeconds } = sql.options;
    const where = path || host.map((h, i) => `${h.includes(":") ? `[${h}]` : h}:${port[i] ?? port[0]}`).join(",");
    throw new Error(
      `cannot connect to Postgres at ${where} (database "${database}", user "${user}"): ${connectFailure(err, timeoutSeconds)}`,
      { cause: err },
    );
  }
}

/** What went wrong opening a connection, in words an operator acts on. */
function connectFailure(err: unknown, timeoutSeconds: number): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ECONNREFUSED") return "connection refused (is Postgres running and listening there?)";
  if (code === "CONNECT_TIMEOUT" || code === "ETIMEDOUT")
    return `timed out after ${timeoutSeconds} s without an answer`;
  if (code === "ENOTFOUND") return `unknown host (${message})`;
  if (code === "EAI_AGAIN") return `the host name could not be looked up now (${message})`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return `host unreachable (${message})`;
  // Postgres's invalid_authorization_specification and invalid_password.
  if (code === "28000" || code === "28P01") return `authentication failed: ${message}`;
  return message; // Postgres's own words, e.g. database "x" does not exist
}

const migrationsDir = projectFile("migrations") + path.sep;

/** The advisory lock that serialises starters migrating `schema` (held for the transaction). */
export function migrationLock(schema: string): string {
  return `files-service migrations ${schema}`;
}

/**
 * Applies the numbered migrations/NNNNN_name.sql files not yet recorded in schema_migrations, each
 * in its own transaction. Concurrent starters serialise on an advisory lock, so running it twice,
 * or from two processes at once, is harmless.
 */
export async function migrate(sql: Sql, schema: string): Promise<string[]> {
  const files = (await readdir(migrationsDir)).filter((f) => /^\d{5}_[\w-]+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    // A migration (or waiting for another starter's) may take longer than a call may.
    await tx`set local statement_timeout = 0`;
    await tx`select pg_advisory_xact_lock(hashtext(${migrationLock(schema)}))`;
    await tx`create schema if not exists ${tx(schema)}`;
    await tx`create table if not exists schema_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now())`;
    const done = new Set((await tx`select version from schema_migrations`).map((r) => r.version as number));
    for (const file of files) {
      const version = Number(file.slice(0, 5));
      if (done.has(version)) continue;
      // A savepoint per file: a failing migration names itself and leaves nothing behind.
      await tx.savepoint(async (sp) => {
        await sp.unsafe(await readFile(migrationsDir + file, "utf8"));
        await sp`insert into schema_migrations (version, name) values (${version}, ${file})`;
      });
      applied.push(file);
    }
  });
  return applied;
}

// postgres.js's own codes for a connection it could not open or lost.
const connectionCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);
// Socket errors of a database that is down or unreachable.
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "EAI_AGAIN",
]);

/**
 * Classifies a failure of the database: undefined for anything that did not come from it. A bare
 * socket errno proves nothing (a client's connection breaks with the same ECONNRESET), so it counts
 * only when postgres.js rejected a query with it, which always attaches the query.
 */
export function classifyDatabaseError(err: unknown): StoreFailure | undefined {
  const code = errorCode(err);
  if (code === undefined) return undefined;
  const fromDatabase =
    err instanceof postgres.PostgresError ||
    connectionCodes.has(code) ||
    (socketCodes.has(code) && "query" in (err as object));
  if (!fromDatabase) return undefined;
  const failure = (kind: StoreFailure["kind"]): StoreFailure => ({ kind, store: "metadata", code });
  // Unreachable, restarting (admin/crash shutdown), out of connections or other resources.
  if (connectionCodes.has(code) || socketCodes.has(code) || /^(08|57P0[1-3]|53)/.test(code))
    return failure("unavailable");
  // statement_timeout (or an operator) cancelled the query: most likely it waited on a lock.
  if (code === "57014") return failure("timed-out");
  // Serialisation failure or deadlock.
  if (code === "40001" || code === "40P01") return failure("conflict");
  return undefined;
}
