/**
 * The bench's results: each row beside its group's baseline as a ratio, as a Markdown table for
 * people or one JSON object for machines.
 */
import type { BenchOptions } from "./options.js";
import type { BenchRow, Measurement, RowGoals, RowGroup } from "./rows/row.js";

const MiB = 1024 * 1024;

/** One row's outcome. */
export interface RowResult {
  id: string;
  group: RowGroup;
  label: string;
  baseline: boolean;
  /** `MiB/s` for uploads and downloads, `req/s` for metadata. */
  unit: "MiB/s" | "req/s";
  /** Absent when the row failed. */
  measurement?: Measurement;
  /** rate / the group baseline's rate; absent when either failed. Above 1 is faster than the baseline. */
  ratio?: number;
  /** Why the row failed (the bytes did not check out, a server did not start…). */
  error?: string;
  /** What the row is meant to reach, and whether it did (absent when it failed or has no goals). */
  goals?: RowGoals;
  goalsMet?: { ratio: boolean | undefined; rssGrowth: boolean };
}

/** A whole run, as `--json` prints it. */
export interface BenchReport {
  sizeBytes: number;
  chunkBytes: number;
  connections: number;
  seconds: number;
  database: "DATABASE_URL" | "embedded";
  /** The S3 of the `--blob-store s3` rows (its endpoint, or "AWS"), when they ran. */
  s3?: string;
  rows: RowResult[];
}

/** The results of `rows` (run in this order), each with its ratio to its group's baseline. */
export function createReport(
  options: BenchOptions,
  database: BenchReport["database"],
  outcomes: { row: BenchRow; measurement?: Measurement; error?: string }[],
  s3?: string,
): BenchReport {
  const baselines = new Map(
    outcomes.filter((o) => o.row.baseline && o.measurement).map((o) => [o.row.group, o.measurement!.rate]),
  );
  const rows = outcomes.map(({ row, measurement, error }): RowResult => {
    const baselineRate = baselines.get(row.group);
    const ratio = measurement && baselineRate ? measurement.rate / baselineRate : undefined;
    return {
      id: row.id,
      group: row.group,
      label: row.label,
      baseline: row.baseline,
      unit: row.group === "metadata" ? "req/s" : "MiB/s",
      measurement,
      ratio,
      error,
      goals: row.goals,
      goalsMet:
        row.goals && measurement
          ? {
              ratio: ratio === undefined ? undefined : ratio >= row.goals.minRatio,
              rssGrowth: measurement.server.rssGrowthMiB <= row.goals.maxRssGrowthMiB,
            }
          : undefined,
    };
  });
  return {
    sizeBytes: options.size,
    chunkBytes: options.chunk,
    connections: options.connections,
    seconds: options.seconds,
    database,
    s3,
    rows,
  };
}

/** The report as a Markdown table, with a line saying what was measured. */
export function formatTable(report: BenchReport): string {
  const lines = [
    `uploads and downloads of ${formatBytes(report.sizeBytes)} in ${formatBytes(report.chunkBytes)} writes/messages; ` +
      `metadata with ${report.connections} connections for ${report.seconds} s; database: ${report.database}` +
      (report.s3 ? `; S3: ${report.s3}` : ""),
    "",
    "| row | rate | ratio to baseline | p50 / p99 ms | server CPU (s) | client CPU (s) | server peak RSS (MiB) | RSS growth (MiB) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const row of report.rows) {
    const m = row.measurement;
    if (!m) {
      lines.push(`| ${row.label} | FAILED: ${row.error?.split("\n")[0]} | | | | | | |`);
      continue;
    }
    const latency = m.latencyMs ? `${m.latencyMs.p50.toFixed(1)} / ${m.latencyMs.p99.toFixed(1)}` : "";
    const ratio = `${row.ratio === undefined ? "–" : row.ratio.toFixed(2)}${goal(row.goals && `≥ ${row.goals.minRatio.toFixed(2)}`, row.goalsMet?.ratio)}`;
    const growth = `${m.server.rssGrowthMiB.toFixed(0)}${goal(row.goals && `≤ ${row.goals.maxRssGrowthMiB.toFixed(0)}`, row.goalsMet?.rssGrowth)}`;
    lines.push(
      `| ${row.label} | ${m.rate.toFixed(0)} ${row.unit} | ${ratio} | ${latency} | ${m.server.cpuSeconds.toFixed(2)} | ${m.clientCpuSeconds.toFixed(2)} | ${m.server.peakRssMiB.toFixed(0)} | ${growth} |`,
    );
  }
  return lines.join("\n");
}

/** A goal beside its figure: ` (goal ≥ 0.80: met)`, `… MISSED`; nothing for a row without goals. */
function goal(target: string | undefined, met: boolean | undefined): string {
  if (target === undefined) return "";
  return ` (goal ${target}${met === undefined ? "" : met ? ": met" : ": MISSED"})`;
}

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}
