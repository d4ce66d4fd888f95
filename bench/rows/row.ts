/**
 * What a bench row is: a name, the group whose baseline its ratio is taken against, and a run that
 * starts its own server process, measures, checks the bytes, and stops the server.
 */
import type { BenchContent } from "../content.js";
import type { BenchOptions } from "../options.js";
import { observeServer, type ServerProcess, type ServerUse } from "../processes.js";
import type { BenchS3 } from "../s3.js";

/** Rows are compared within their group, each against the group's baseline row. */
export type RowGroup = "upload" | "download" | "metadata" | "s3-upload" | "s3-download";

/** What a row measured. */
export interface Measurement {
  /** MiB/s for the byte rows, requests/s for the metadata rows. */
  rate: number;
  /** Seconds the measured work took. */
  seconds: number;
  /** Latency percentiles of the metadata rows, milliseconds. */
  latencyMs?: { p50: number; p99: number };
  /** The server's memory and CPU time during the measurement. */
  server: ServerUse;
  /** CPU time of the bench process (the client) during the measurement, seconds. */
  clientCpuSeconds: number;
}

/** Everything a row needs from the run. */
export interface BenchContext {
  options: BenchOptions;
  content: BenchContent;
  /** A directory of this run, removed at its end. */
  dir: string;
  /** Starts a fresh service process on the run's schema and blob directory. */
  startService(): Promise<ServerProcess>;
  /** With `--blob-store s3`: the run's bucket, and a fresh service storing into it (a schema of its own). */
  s3?: BenchS3 & { startService(): Promise<ServerProcess> };
}

/** What a row is meant to reach, printed beside what it measured. */
export interface RowGoals {
  /** Its rate divided by its group's baseline's, at least. */
  minRatio: number;
  /** The server's RSS growth during the measurement, MiB, at most. */
  maxRssGrowthMiB: number;
}

/** One row of the table. */
export interface BenchRow {
  /** `group/name`, what `--only` matches. */
  id: string;
  group: RowGroup;
  /** What the table calls it: what is measured, and how it differs from the service. */
  label: string;
  /** The row the others of its group are divided by. */
  baseline: boolean;
  goals?: RowGoals;
  run(context: BenchContext): Promise<Measurement>;
}

/** Runs `use` with a started server and stops the server afterwards; a failure carries the server's last log lines. */
export async function withServer<T>(
  starting: Promise<ServerProcess>,
  use: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await starting;
  try {
    return await use(server);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n  the server's last lines:\n${server.logTail()}`, { cause: err });
  } finally {
    await server.stop();
  }
}

/** Runs `work` and answers its result and how many seconds it took. */
export async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const started = performance.now();
  const result = await work();
  return { result, seconds: (performance.now() - started) / 1000 };
}

/**
 * Times `work`, which moves `bytes` (and checks them), observing what the process `pid` (the
 * server) uses meanwhile.
 */
export async function measureBytes(pid: number, bytes: number, work: () => Promise<void>): Promise<Measurement> {
  const { result, server, clientCpuSeconds } = await observeServer(pid, () => timed(work));
  return { rate: mibPerSecond(bytes, result.seconds), seconds: result.seconds, server, clientCpuSeconds };
}

/** MiB per second. */
export function mibPerSecond(bytes: number, seconds: number): number {
  return bytes / (1024 * 1024) / seconds;
}
