/**
 * The service's Prometheus metrics: one registry per started service (tests start several in one
 * process), with Node's process metrics and the service's own, all named `files_…`. Labels are of
 * low cardinality only — service, method, protocol, code, kinds — never a bucket, key or upload
 * id. Everything is counted once per call, sweep or query, never per chunk of content.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import type { SweepReport } from "../files/sweeper.js";
import type { CallObserver } from "../rpc/call-log.js";
import type { DatabaseObserver } from "./database-instrumentation.js";

/** What the metrics read when they are scraped. */
export interface MetricsSources {
  /** RPC handlers running now. */
  handlersRunning(): number;
  /** Upload sessions open in the database (all replicas'); rejects when it cannot be asked. */
  openSessions(): Promise<number>;
  /** Metadata queries in flight now. */
  queriesInFlight(): { waiting: number; running: number };
  /** The database pool's size. */
  poolMax: number;
}

/** The metrics of one service, and the hooks that feed them. */
export interface Metrics {
  readonly registry: Registry;
  /** For the call log: counts each ended call, its bytes and what it did to uploads. */
  readonly callEnded: CallObserver;
  /** For the upload: counts an upload that became a file. */
  uploadCompleted(): void;
  /** For the sweeper: counts each sweep and what it removed. */
  sweepEnded(outcome: { report: SweepReport } | { error: unknown }): void;
  /** For the database instrumentation. */
  readonly database: DatabaseObserver;
}

// Calls last from a millisecond (metadata) to hours (a large upload over a slow link).
const callBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200];
const queryBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// A scrape must answer even while the database does not.
const openSessionsTimeoutMs = 2000;
// One count of open sessions serves every scrape for this long (and one runs at a time), so that
// scrapes, however many, cost the shared pool one query per interval.
const openSessionsMaxAgeMs = 5000;

const uploadService = FilesService.typeName;
const createMethod = FilesService.method.createUploadSession.name;
const uploadMethod = FilesService.method.uploadContent.name;

/** A registry with Node's process metrics and the service's own. */
export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let lastCount: { at: number; count: Promise<number> } | undefined;
  const openSessions = () => {
    if (!lastCount || Date.now() - lastCount.at > openSessionsMaxAgeMs)
      lastCount = { at: Date.now(), count: sources.openSessions() };
    return lastCount.count;
  };

  const calls = new Counter({
    name: "files_rpc_calls_total",
    help: "RPC calls ended, by service, method, the protocol the client spoke and code (refusals before the body included).",
    labelNames: ["service", "method", "protocol", "code"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "files_rpc_duration_seconds",
    help: "How long RPC calls took, from the handler's start to the last response message.",
    labelNames: ["service", "method", "protocol", "code"] as const,
    buckets: callBuckets,
    registers,
  });
  new Gauge({
    name: "files_rpc_handlers_running",
    help: "RPC handlers running now (calls in progress, REST, tus and the IETF draft included).",
    registers,
    collect() {
      this.set(sources.handlersRunning());
    },
  });
  const received = new Counter({
    name: "files_received_bytes_total",
    help: "File content bytes received in uploads, by protocol (counted when each call ends).",
    labelNames: ["protocol"] as const,
    registers,
  });
  const sent = new Counter({
    name: "files_sent_bytes_total",
    help: "File content bytes sent in downloads, by protocol (counted when each call ends).",
    labelNames: ["protocol"] as const,
    registers,
  });
  const started = new Counter({
    name: "files_uploads_started_total",
    help: "Upload sessions created.",
    registers,
  });
  const completed = new Counter({
    name: "files_uploads_completed_total",
    help: "Uploads that became a file.",
    registers,
  });
  const failed = new Counter({
    name: "files_uploads_failed_total",
    help: "Upload requests that ended in an error, by code (most are resumable: the committed offset stays).",
    labelNames: ["code"] as const,
    registers,
  });
  new Gauge({
    name: "files_upload_sessions_open",
    help: "Upload sessions open (neither complete nor expired) in the database, across every replica.",
    registers,
    async collect() {
      try {
        this.set(await withTimeout(openSessions(), openSessionsTimeoutMs));
      } catch {
        // Left out rather than stale: a value that is not known is not reported.
        this.reset();
      }
    },
  });
  const sweeps = new Counter({
    name: "files_sweep_runs_total",
    help: "Sweeps run by this process, by result (ok, failed).",
    labelNames: ["result"] as const,
    registers,
  });
  const swept = new Counter({
    name: "files_sweep_removed_total",
    help: "What sweeps removed: expired_sessions ended, content (blobs and partial content) removed.",
    labelNames: ["kind"] as const,
    registers,
  });
  const queries = new Histogram({
    name: "files_db_query_duration_seconds",
    help: "Metadata queries, from being handed to the pool (waiting for a connection included) to their answer, by operation.",
    labelNames: ["operation"] as const,
    buckets: queryBuckets,
    registers,
  });
  new Gauge({
    name: "files_db_queries_in_flight",
    help: "Metadata queries not yet answered: waiting for a pool connection, or running on one.",
    labelNames: ["state"] as const,
    registers,
    collect() {
      const { waiting, running } = sources.queriesInFlight();
      this.set({ state: "waiting" }, waiting);
      this.set({ state: "running" }, running);
    },
  });
  const transactions = new Gauge({
    name: "files_db_transactions_open",
    help: "Transactions open now; each holds one pool connection until it ends.",
    registers,
  });
  new Gauge({
    name: "files_db_pool_connections_max",
    help: "Connections the metadata pool may open.",
    registers,
  }).set(sources.poolMax);

  return {
    registry,
    callEnded(call) {
      const labels = {
        service: call.method.parent.typeName,
        method: call.method.name,
        protocol: call.protocol,
        code: call.code,
      };
      calls.inc(labels);
      duration.observe(labels, call.seconds);
      if (call.bytesIn > 0) received.inc({ protocol: call.protocol }, call.bytesIn);
      if (call.bytesOut > 0) sent.inc({ protocol: call.protocol }, call.bytesOut);
      if (labels.service !== uploadService) return;
      if (labels.method === createMethod && call.code === "ok") started.inc();
      if (labels.method !== uploadMethod) return;
      if (call.code !== "ok") failed.inc({ code: call.code });
    },
    // Told by the upload itself: the answer to a retry on a completed session carries the same
    // file as the request that completed it, so the call alone cannot say which one did.
    uploadCompleted: () => completed.inc(),
    sweepEnded(outcome) {
      if ("error" in outcome) {
        sweeps.inc({ result: "failed" });
        return;
      }
      sweeps.inc({ result: "ok" });
      swept.inc({ kind: "expired_sessions" }, outcome.report.expiredSessions);
      swept.inc({ kind: "content" }, outcome.report.removedContent);
    },
    database: {
      queryEnded: (operation, seconds) => queries.observe({ operation }, seconds),
      transactionsOpen: (open) => transactions.set(open),
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
