/**
 * Builds the service from a configuration: database (given, or the embedded one), migrations, blob
 * store, session locks, the Connect handler and the one-port server. main.ts and the end-to-end
 * tests both start the service through here.
 */
import { createConnectRouter } from "@connectrpc/connect";
import path from "node:path";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { authentication } from "./access/access-control.js";
import { loadApiKeys, type ApiKeys } from "./access/api-keys.js";
import type { Config } from "./config.js";
import { createDrain } from "./drain.js";
import { errorMapping } from "./errors.js";
import { createHashCache } from "./files/content-hash.js";
import { filesRoutes } from "./files/files-service.js";
import { baseUrlContext } from "./files/public-urls.js";
import { startSweeper, type Sweeper } from "./files/sweeper.js";
import { createDatabaseHealth } from "./health/database-health.js";
import { withHealth } from "./health/health-service.js";
import { createHealthzHandler } from "./health/healthz.js";
import type { Logger } from "./log.js";
import { createRpcHandler, parseErrorsAsInvalidArgument } from "./rpc-handler.js";
import { createServer } from "./server.js";
import { createTranscoder, loadOpenApiDocument } from "./transcoding/index.js";
import type { BlobStore } from "./store/blob-store.js";
import { bindContentStore, type OwnershipNames } from "./store/blob-ownership.js";
import { checkConnection, connectDatabase, databaseLocation, migrate, type Sql } from "./store/database.js";
import { createDirectoryBlobStore } from "./store/directory-blob-store.js";
import { startEmbeddedPostgres } from "./store/embedded-postgres.js";
import { createSessionLocks } from "./store/session-locks.js";

/** A started service. */
export interface App {
  /** The port it listens on. */
  port: number;
  /** The database pool (tests inspect the tables through it). */
  sql: Sql;
  blobs: BlobStore;
  sweeper: Sweeper;
  /** How many RPC handlers run now (REST calls included). */
  runningHandlers(): number;
  /** Graceful stop: stop accepting, let requests finish within the grace period, close everything. */
  close(): Promise<void>;
}

/** Optional replacements, for tests (e.g. a fault-injecting blob store). */
export interface AppOverrides {
  blobs?: BlobStore;
}

/** Starts the service described by `config`. */
export async function startApp(config: Config, log: Logger, overrides: AppOverrides = {}): Promise<App> {
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => log.warn("shutdown step failed", { error: String(err) }));
  };
  try {
    const keys = loadApiKeys(config.apiKeys, config.apiKeysFile);
    checkOpenAccess(config, keys, log);
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      log.info("DATABASE_URL is not set: starting the embedded Postgres", { dir: config.embeddedPostgresDir, port: config.embeddedPostgresPort });
      const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedPostgresDir, port: config.embeddedPostgresPort });
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    const sql = await openDatabase(databaseUrl, config, cleanups);
    const applied = await migrate(sql, config.databaseSchema);
    if (applied.length > 0) log.info("migrations applied", { applied });

    const blobs = overrides.blobs ?? (await createDirectoryBlobStore(config.blobDir));
    // Before anything is written or swept: this store must hold this database's content.
    await bindContentStore(sql, blobs, ownershipNames(config));
    const locks = createSessionLocks(databaseUrl, config.databaseSchema, config.databaseConnectTimeoutSeconds);
    cleanups.push(() => locks.close());
    const hashes = createHashCache();
    const sweeper = startSweeper({ sql, blobs, locks, hashes, log }, config.sweepIntervalSeconds);
    cleanups.push(() => sweeper.stop());
    const health = createDatabaseHealth(sql, log);
    const healthz = createHealthzHandler(health);

    // Registered before the server's close, so it runs after it: handlers on cut connections still
    // commit what they received before the database closes.
    const drain = createDrain();
    cleanups.push(async () => {
      const left = await drain.idle(10_000);
      if (left > 0) log.warn("handlers still running at shutdown", { count: left });
    });
    const routes = withHealth(health, filesRoutes({
      sql,
      blobs,
      locks,
      hashes,
      log,
      checkpointBytes: config.checkpointBytes,
      sessionTtlSeconds: config.sessionTtlSeconds,
      maxFileSize: config.maxFileSize,
      maxOpenSessions: config.maxOpenSessions,
    }));
    // One router for every face: gRPC, gRPC-Web and Connect at their paths, REST through the
    // transcoder; all of them pass the same interceptors and limits.
    const router = createConnectRouter({
      // Every message, an upload chunk included, must fit; larger ones are refused before parsing.
      readMaxBytes: config.maxMessageBytes,
      writeMaxBytes: config.maxMessageBytes,
      // 0 means no limit; Connect would read 0 ms as "refuse every deadline".
      maxTimeoutMs: config.maxRequestTimeoutSeconds > 0 ? config.maxRequestTimeoutSeconds * 1000 : undefined,
      acceptCompression: [compressionGzip, compressionBrotli],
      // Health probes carry no key; every other service (FilesService) needs one when keys are set.
      interceptors: [drain.interceptor, errorMapping(log), authentication(keys, ["grpc.health.v1.Health"])],
    });
    routes(router);
    const handlers = router.handlers.map(parseErrorsAsInvalidArgument);
    const contextValues = baseUrlContext(config.publicUrl);
    const rest = createTranscoder({
      handlers,
      contextValues,
      maxJsonBodyBytes: config.maxMessageBytes,
      openApi: await loadOpenApiDocument(),
      onInternalError: (err) => log.error("REST request failed", { error: err.message }),
      inlineContentTypes: config.inlineContentTypes,
    });
    const handler = createRpcHandler({ handlers, contextValues, log, fallback: (req, res) => healthz(req, res) || rest.handle(req, res) });
    const server = createServer({
      handler,
      idleTimeoutMs: config.idleTimeoutSeconds * 1000,
      headersTimeoutMs: config.headersTimeoutSeconds * 1000,
      maxConcurrentStreams: config.http2MaxConcurrentStreams,
      onError: (err) => log.error("listening socket error", { error: err.message }),
    });
    const port = await server.listen(config.port, config.host);
    // Runs first on close: no new requests, in-flight uploads commit what they received.
    cleanups.push(() => server.close(config.shutdownGraceSeconds * 1000));
    log.info("listening", { url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}` });

    return { port, sql, blobs, sweeper, runningHandlers: () => drain.running, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** How the database and the blob directory of `config` are named in ownership messages. */
export function ownershipNames(config: Config): OwnershipNames {
  const where = config.databaseUrl ? databaseLocation(config.databaseUrl) : `the embedded Postgres in ${path.resolve(config.embeddedPostgresDir)}`;
  return {
    database: `${where}, schema ${config.databaseSchema}`,
    databaseSettings: "DATABASE_URL / DATABASE_SCHEMA (--database-url / --database-schema)",
    store: `blob directory ${path.resolve(config.blobDir)}`,
    storeSettings: "BLOB_DIR (--blob-dir)",
  };
}

/**
 * Opens the pool and waits for a first connection, so that a wrong DATABASE_URL stops the start at
 * once with a message naming the setting, where it tried and what failed.
 */
async function openDatabase(url: string, config: Config, cleanups: (() => Promise<void>)[]): Promise<Sql> {
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
function checkOpenAccess(config: Config, keys: ApiKeys, log: Logger): void {
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
