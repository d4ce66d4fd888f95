/**
 * What a start checks and opens before the service is wired (app.ts): the database pool, refused
 * at once with the setting named when it cannot connect; whether running without API keys is
 * allowed where it listens; and how the database and content store are named in ownership
 * messages (the start and `npm run fsck` alike).
 */
import path from "node:path";
import type { ApiKeys } from "./access/api-keys.js";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import type { OwnershipNames } from "./store/blob-ownership.js";
import { describeContentStore } from "./store/blobs/content-store.js";
import { checkConnection, connectDatabase, databaseLocation, type Sql } from "./store/postgres/database.js";

/** How the database and the blob directory of `config` are named in ownership messages. */
export function ownershipNames(config: Config): OwnershipNames {
  const where = config.databaseUrl
    ? databaseLocation(config.databaseUrl)
    : `the embedded Postgres in ${path.resolve(config.embeddedPostgresDir)}`;
  return {
    database: `${where}, schema ${config.databaseSchema}`,
    databaseSettings: "DATABASE_URL / DATABASE_SCHEMA (--database-url / --database-schema)",
    ...describeContentStore(config),
  };
}

/**
 * Opens the pool and waits for a first connection, so that a wrong DATABASE_URL stops the start at
 * once with a message naming the setting, where it tried and what failed.
 */
export async function openDatabase(url: string, config: Config, cleanups: (() => Promise<void>)[]): Promise<Sql> {
  const setting = config.databaseUrl ? "DATABASE_URL / --database-url" : "the embedded Postgres";
  try {
    const sql = connectDatabase({
      url,
      schema: config.databaseSchema,
      max: config.databasePoolMax,
      statementTimeoutSeconds: config.databaseStatementTimeoutSeconds,
      connectTimeoutSeconds: config.databaseConnectTimeoutSeconds,
    });
    cleanups.push(() => sql.end({ timeout: 5 }));
    await checkConnection(sql);
    return sql;
  } catch (err) {
    throw new Error(`${setting}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Without API keys anyone who can connect may read and write everything: allowed on loopback,
 * elsewhere only when the operator says so explicitly.
 */
export function checkOpenAccess(config: Config, keys: ApiKeys, log: Logger): void {
  if (keys.enabled) return;
  const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(config.host);
  if (!loopback && !config.allowOpenAccess) {
    throw new Error(
      `no API keys are configured, so the service would be open to anyone who can reach ${config.host}; ` +
        "set API_KEYS or --api-keys-file, or listen on 127.0.0.1, or pass --allow-open-access true",
    );
  }
  log.warn("no API keys configured: every caller may read and write every bucket", { host: config.host, open: true });
}
