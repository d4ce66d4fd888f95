/**
 * Builds the service from a configuration: database (given, or the embedded one), migrations, blob
 * store, session locks, the Connect handler and the one-port server. main.ts and the end-to-end
 * tests both start the service through here.
 */
import { createConnectRouter } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { createAuthentication } from "./access/access-control.js";
import { loadApiKeys } from "./access/api-keys.js";
import type { Config } from "./config.js";
import { callLogging, logRefusedCall, protocolOf, withProtocol, type Protocol } from "./rpc/call-log.js";
import { createDrain } from "./rpc/drain.js";
import { errorMapping } from "./rpc/error-mapping.js";
import { createHashCache } from "./files/content-hash.js";
import { resumableSha256Kind } from "./files/resumable-sha256.js";
import { withReflection } from "./reflection/server-reflection.js";
import { withCors } from "./rpc/cors.js";
import type { ResumableOptions } from "./resumable/http-exchange.js";
import { createTusHandler } from "./resumable/tus/tus-handler.js";
import { createDraftHandler } from "./resumable/ietf-draft/draft-handler.js";
import { createRemovalQueue } from "./files/content-removal.js";
import { ErrorReason } from "./files/error-reasons.js";
import { filesRoutes } from "./files/files-service.js";
import { baseUrlContext } from "./files/public-urls.js";
import { startSweeper, type Sweeper } from "./files/sweeper.js";
import { createDatabaseHealth } from "./health/database-health.js";
import { createHealthWatch, withHealth } from "./health/health-service.js";
import { createHealthzHandler } from "./health/healthz.js";
import type { Logger } from "./log.js";
import { createRpcHandler, parseErrorsAsInvalidArgument } from "./rpc/rpc-handler.js";
import { createServer } from "./rpc/server.js";
import { loadOpenApiDocument } from "./project-files.js";
import { createTranscoder, routeInProcess, type BeforeBodyCheck, type RequestBodyLimits } from "./transcoding/index.js";
import type { BlobStore } from "./store/blobs/blob-store.js";
import { bindContentStore } from "./store/blob-ownership.js";
import { classifyDatabaseError, migrate, type Sql } from "./store/postgres/database.js";
import { openContentStore } from "./store/blobs/content-store.js";
import { checkOpenAccess, openDatabase, ownershipNames } from "./startup.js";
import { startEmbeddedPostgres } from "./dev/embedded-postgres/embedded-postgres.js";
import { createSessionLocks } from "./store/postgres/session-locks.js";
import { countOpenSessions } from "./store/postgres/upload-sessions.js";
import { instrumentDatabase } from "./observability/database-instrumentation.js";
import { createMetrics } from "./observability/metrics.js";
import { createMetricsHandler, serveMetricsAlone } from "./observability/metrics-endpoint.js";
import { rpcTracing } from "./observability/tracing.js";

/** A started service. */
export interface App {
  /** The port it listens on. */
  port: number;
  /** The port `GET /metrics` is served on (the main one unless METRICS_PORT says otherwise). */
  metricsPort: number;
  /** The database pool (tests inspect the tables through it). */
  sql: Sql;
  blobs: BlobStore;
  sweeper: Sweeper;
  /** How many RPC handlers run now (REST calls included). */
  runningHandlers(): number;
  /** Resolves once the content removals that handlers started after their answers have ended. */
  removalsDone(): Promise<void>;
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
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => log.warn("shutdown step failed", { err }));
  };
  try {
    const keys = loadApiKeys(config.apiKeys, config.apiKeysFile);
    checkOpenAccess(config, keys, log);
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      log.info("DATABASE_URL is not set: starting the embedded Postgres", {
        dir: config.embeddedPostgresDir,
        port: config.embeddedPostgresPort,
      });
      const embedded = await startEmbeddedPostgres({
        dataDir: config.embeddedPostgresDir,
        port: config.embeddedPostgresPort,
      });
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    // One registry per started service; what it reads at a scrape is built below.
    const metrics = createMetrics({
      poolMax: config.databasePoolMax,
      handlersRunning: () => drain.running,
      openSessions: () => countOpenSessions(sql),
      queriesInFlight: () => database.inFlight(),
    });
    // Every query of the pool is timed and traced by this wrapper; the store knows nothing of it.
    const database = instrumentDatabase(await openDatabase(databaseUrl, config, cleanups), metrics.database);
    const sql = database.sql;
    const applied = await migrate(sql, config.databaseSchema);
    if (applied.length > 0) log.info("migrations applied", { applied });

    const blobs = overrides.blobs ?? (await openContentStore(config));
    // Before anything is written or swept: this store must hold this database's content.
    await bindContentStore(sql, blobs, ownershipNames(config));
    const locks = createSessionLocks(databaseUrl, config.databaseSchema, config.databaseConnectTimeoutSeconds);
    cleanups.push(() => locks.close());
    // A store that cannot read partial content back needs running hashes that save their state.
    const hashes = createHashCache({ resumable: !blobs.readPartial });
    if (!blobs.readPartial) log.info("upload hashes are saved with each offset", { hasher: resumableSha256Kind });
    // Registered before the drain's cleanup, so it runs after it: removals the last handlers
    // started end before the database closes.
    const removals = createRemovalQueue({ sql, blobs, log });
    cleanups.push(() => removals.idle());
    const sweeper = startSweeper(
      { sql, blobs, locks, hashes, log, onSweep: metrics.sweepEnded },
      config.sweepIntervalSeconds,
    );
    cleanups.push(() => sweeper.stop());
    const health = createDatabaseHealth(sql, log);
    const healthz = createHealthzHandler(health);
    // Watch streams share one poll, and repeat a quiet status well before the idle timeout cuts them.
    const healthWatch = createHealthWatch(health, { repeatMs: (config.idleTimeoutSeconds * 1000) / 2 });

    // Registered before the server's close, so it runs after it: handlers on cut connections still
    // commit what they received before the database closes.
    const drain = createDrain();
    cleanups.push(async () => {
      const left = await drain.idle(10_000);
      if (left > 0) log.warn("handlers still running at shutdown", { count: left });
    });
    // Reflection answers about every service the router ends up with, itself included.
    const routes = withReflection(
      withHealth(
        health,
        filesRoutes({
          sql,
          blobs,
          locks,
          hashes,
          removals,
          log,
          onUploadCompleted: metrics.uploadCompleted,
          checkpointBytes: config.checkpointBytes,
          sessionTtlSeconds: config.sessionTtlSeconds,
          maxFileSize: config.maxFileSize,
          maxOpenSessions: config.maxOpenSessions,
          maxOpenSessionsPerKey: config.maxOpenSessionsPerKey,
          maxPendingBytesPerKey: config.maxPendingBytesPerKey,
        }),
        healthWatch,
      ),
    );
    // Health probes carry no key; every other service (FilesService) needs one when keys are set.
    const auth = createAuthentication(keys, ["grpc.health.v1.Health"]);
    // Both faces authenticate from the headers before reading a body; the interceptor then
    // remembers the caller for the per-bucket checks (and covers whatever reaches the router).
    // Keys are checked from the headers before a body is read; a refused call still gets its log line.
    const checkBeforeBody =
      (protocol?: Protocol): BeforeBodyCheck =>
      (method, header) => {
        try {
          auth.check(method.parent.typeName, header("authorization"));
        } catch (err) {
          const refused = protocol ?? protocolOf(header("content-type") ?? "");
          logRefusedCall(log, method, refused, header, err, metrics.callEnded);
          throw err;
        }
      };
    // The most bytes one upload message handed over in process carries (REST, tus, the draft).
    const rawChunkBytes = 256 * 1024;
    const bodyLimits: RequestBodyLimits = {
      wholeBodyTimeoutMs: config.requestBodyTimeoutSeconds * 1000,
      streamMinimumRate:
        config.minUploadBytesPerSecond > 0
          ? { bytesPerSecond: config.minUploadBytesPerSecond, windowMs: config.uploadRateWindowSeconds * 1000 }
          : undefined,
    };
    // One router for every face: gRPC, gRPC-Web and Connect at their paths, REST through the
    // transcoder; all of them pass the same interceptors and limits.
    const interceptors = [
      drain.interceptor,
      callLogging(log, metrics.callEnded),
      // Outside the error mapping, so that spans carry the code the client gets.
      rpcTracing(),
      errorMapping(log, [classifyDatabaseError, blobs.classifyError]),
      auth.interceptor,
    ];
    const router = createConnectRouter({
      // Every message, an upload chunk included, must fit; larger ones are refused before parsing.
      readMaxBytes: config.maxMessageBytes,
      writeMaxBytes: config.maxMessageBytes,
      // 0 means no limit; Connect would read 0 ms as "refuse every deadline".
      maxTimeoutMs: config.maxRequestTimeoutSeconds > 0 ? config.maxRequestTimeoutSeconds * 1000 : undefined,
      // Compressed requests are welcome; responses go out as they are: file content is mostly
      // compressed already (media, archives), and gzip of every 128 KiB download message cost
      // 30 times the CPU of sending it (gRPC downloads ran at a twentieth of the disk's speed).
      acceptCompression: [compressionGzip, compressionBrotli],
      compressMinBytes: Number.MAX_SAFE_INTEGER,
      interceptors,
    });
    // The transcoder calls the same implementations in process, through the same interceptors.
    const methods = routeInProcess(router, routes, interceptors);
    const handlers = router.handlers.map(parseErrorsAsInvalidArgument);
    const contextValues = baseUrlContext(config.publicUrl);
    // The transcoder's calls are logged (and, later, counted) as REST, whatever they speak in process.
    const restContextValues = (req: Parameters<typeof contextValues>[0]) => withProtocol(contextValues(req), "rest");
    const rest = createTranscoder({
      methods,
      contextValues: restContextValues,
      maxJsonBodyBytes: config.maxMessageBytes,
      bodyLimits,
      rawChunkBytes,
      checkBeforeBody: checkBeforeBody("rest"),
      openApi: await loadOpenApiDocument(),
      onInternalError: (err) => log.error("REST request failed: a bug in the transcoder", { err }),
      inlineContentTypes: config.inlineContentTypes,
      // The REST statuses of the service's reasons (the domain names reasons, never statuses).
      httpStatusForReason: {
        [ErrorReason.FILE_TOO_LARGE]: 413,
        [ErrorReason.CONTENT_PAST_DECLARED_SIZE]: 413,
        [ErrorReason.STORAGE_FULL]: 507,
        // The client's content was wrong: not a server fault (DATA_LOSS alone would be 500).
        [ErrorReason.REQUEST_CHECKSUM_MISMATCH]: 400,
      },
    });
    // The resumable-upload protocols call the same methods in process, as REST does.
    const resumable = (protocol: Protocol): ResumableOptions => ({
      methods,
      bodyLimits,
      pieceBytes: rawChunkBytes,
      maxFileSize: config.maxFileSize,
      contextValues: (req) => withProtocol(contextValues(req), protocol),
      checkBeforeBody: checkBeforeBody(protocol),
    });
    const tus = createTusHandler(resumable("tus"));
    const draft = createDraftHandler(resumable("resumable-draft"));
    // Scrapes need a key like any route when keys are on, unless METRICS_OPEN opens them.
    const metricsRoute = createMetricsHandler({
      metrics,
      log,
      authenticate: config.metricsOpen ? undefined : (authorization) => auth.check("GET /metrics", authorization),
    });
    const metricsHere = config.metricsPort === undefined ? metricsRoute : () => false;
    const handler = createRpcHandler({
      handlers,
      contextValues,
      log,
      checkBeforeBody: checkBeforeBody(),
      bodyLimits,
      fallback: (req, res) =>
        healthz(req, res) || metricsHere(req, res) || tus(req, res) || draft(req, res) || rest.handle(req, res),
    });
    const serverLimits = {
      idleTimeoutMs: config.idleTimeoutSeconds * 1000,
      headersTimeoutMs: config.headersTimeoutSeconds * 1000,
      maxConcurrentStreams: config.http2MaxConcurrentStreams,
    };
    const server = createServer({
      // Browsers' preflights are answered before anything else runs (no key, no database).
      handler: withCors(handler, config.corsAllowedOrigins),
      ...serverLimits,
      onError: (err) => log.error("listening socket error", { err }),
    });
    const port = await server.listen(config.port, config.host);
    // Runs first on close but for ending the health Watches: no new requests, in-flight uploads
    // commit what they received.
    cleanups.push(() => server.close(config.shutdownGraceSeconds * 1000));
    // Runs before the server's close: Watch streams never end by themselves and would hold it for the
    // whole grace period, so each answers NOT_SERVING and ends now (later ones end at once).
    cleanups.push(async () => healthWatch.close());
    const urlOf = (p: number) => `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${p}`;
    log.info("listening", { url: urlOf(port) });
    let metricsPort = port;
    if (config.metricsPort !== undefined) {
      const own = serveMetricsAlone(metricsRoute, {
        ...serverLimits,
        onError: (err) => log.error("metrics socket error", { err }),
      });
      cleanups.push(() => own.close(0));
      metricsPort = await own.listen(config.metricsPort, config.host);
      log.info("metrics listening", { url: `${urlOf(metricsPort)}/metrics` });
    }

    return {
      port,
      metricsPort,
      sql,
      blobs,
      sweeper,
      runningHandlers: () => drain.running,
      removalsDone: () => removals.idle(),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
