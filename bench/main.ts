/**
 * `npm run bench [-- --size 256MiB --only upload --json]`: the service's byte path and metadata
 * calls, each row beside a baseline that does the least the job needs, in one run.
 *
 *   upload/*    baseline (http → file + fsync), tus (@tus/server), the service over tus, REST raw body, gRPC and Connect
 *               client streams: MiB/s
 *   download/*  baseline (http ← fs.createReadStream), REST GET …:content, gRPC DownloadFile,
 *               REST Range bytes=1-: MiB/s
 *   metadata/*  a constant Connect GetFile handler, then GetFile over Connect JSON and REST under
 *               autocannon: requests/s and p50/p99 latency
 *   s3-upload/*, s3-download/*  with `--blob-store s3` only: the service on S3 beside the AWS SDK
 *               alone on the same S3 (rows/s3.ts), in a bucket of the run's own, removed at the end
 *
 * Every row runs on a freshly started server process, one row at a time, and reports the
 * server's peak RSS and its growth during the measurement; every byte moved is checked. The
 * service runs compiled (dist/, as `npm start` runs it: `npm run bench` builds first) on a schema
 * of its own that is dropped at the end. Progress goes to stderr, the table (or `--json`) to stdout.
 * Exit code 1 when a row failed, 2 for a bad flag.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { createBenchContent } from "./content.js";
import { parseBenchOptions, usage, type BenchOptions } from "./options.js";
import { compileHelpers, startService } from "./processes.js";
import { createReport, formatTable } from "./report.js";
import { downloadRows } from "./rows/downloads.js";
import { metadataRows } from "./rows/metadata.js";
import type { BenchContext, BenchRow, Measurement } from "./rows/row.js";
import { s3Rows } from "./rows/s3.js";
import { uploadRows } from "./rows/uploads.js";
import { missingS3Message, openBenchS3, type BenchBucket } from "./s3.js";

/** Every row of a run with these options: the S3 rows only with `--blob-store s3`. */
function allRows(options: BenchOptions): BenchRow[] {
  return [...uploadRows, ...downloadRows, ...metadataRows, ...(options.blobStore === "s3" ? s3Rows : [])];
}

/**
 * The rows `--only` asks for: those whose id (`download/rest`) or name after the group (`rest`)
 * starts with one of the prefixes, and the baseline of every group chosen, which the ratios need.
 */
function selectRows(rows: BenchRow[], only: string[]): BenchRow[] {
  if (only.length === 0) return rows;
  const asked = (row: BenchRow) =>
    only.some((prefix) => row.id.startsWith(prefix) || row.id.slice(row.group.length + 1).startsWith(prefix));
  const groups = new Set(rows.filter(asked).map((row) => row.group));
  if (groups.size === 0)
    throw new Error(
      `--only ${only.join(", ")} matches no row; rows: ${rows.map((row) => row.id).join(", ")}` +
        (rows.some((row) => row.group.startsWith("s3-")) ? "" : " (the s3-* rows run only with --blob-store s3)"),
    );
  return rows.filter((row) => asked(row) || (row.baseline && groups.has(row.group)));
}

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  let rows: BenchRow[];
  try {
    options = parseBenchOptions(argv);
    rows = selectRows(allRows(options), options.only);
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (options.help) {
    console.log(usage);
    return 0;
  }

  const databaseUrl = process.env.DATABASE_URL;
  // This run's tables go into a schema of their own, dropped at the end; the S3 rows' into another,
  // since a database is bound to one blob store.
  const schema = `bench_${process.pid}`;
  const s3Schema = `${schema}_s3`;
  let bucket: BenchBucket | undefined;
  if (rows.some((row) => row.group.startsWith("s3-"))) {
    try {
      bucket = await openBenchS3();
    } catch (err) {
      console.error((err as Error).message);
      return (err as Error).message === missingS3Message ? 2 : 1;
    }
    process.stderr.write(`S3 rows in s3://${bucket.s3.bucket} on ${bucket.s3.where}\n`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), "files-bench-"));
  const context: BenchContext = {
    options,
    content: createBenchContent(options.size, options.chunk),
    dir,
    startService: () => startService({ BLOB_STORE: "dir", BLOB_DIR: path.join(dir, "blobs"), DATABASE_SCHEMA: schema }),
    s3: bucket && {
      ...bucket.s3,
      startService: () => startService({ ...bucket!.s3.serviceEnv, DATABASE_SCHEMA: s3Schema }),
    },
  };
  const outcomes: { row: BenchRow; measurement?: Measurement; error?: string }[] = [];
  try {
    await compileHelpers();
    for (const row of rows) {
      process.stderr.write(`${row.id} … `);
      try {
        const measurement = await row.run(context);
        outcomes.push({ row, measurement });
        process.stderr.write(`${measurement.rate.toFixed(0)} ${row.group === "metadata" ? "req/s" : "MiB/s"}\n`);
      } catch (err) {
        // One failed row (bytes that did not check out, a server that died) should not cost the others.
        const error = err instanceof Error ? err.message : String(err);
        outcomes.push({ row, error });
        process.stderr.write(`FAILED: ${error}\n`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (bucket) await removeBucket(bucket);
    if (databaseUrl) for (const name of bucket ? [schema, s3Schema] : [schema]) await dropSchema(databaseUrl, name);
  }

  const report = createReport(options, databaseUrl ? "DATABASE_URL" : "embedded", outcomes, bucket?.s3.where);
  console.log(options.json ? JSON.stringify(report, null, 2) : `\n${formatTable(report)}`);
  return outcomes.some((o) => o.error !== undefined) ? 1 : 0;
}

/** Empties and removes the S3 rows' bucket; a failure is said, and the results still printed. */
async function removeBucket(bucket: BenchBucket): Promise<void> {
  try {
    await bucket.remove();
  } catch (err) {
    console.error(`could not remove the bench bucket ${bucket.s3.bucket}: ${(err as Error).message}`);
  }
}

/** Drops the run's schema; a database that cannot be reached is said, and the results still printed. */
async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const sql = postgres(databaseUrl, { onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql`drop schema if exists ${sql(schema)} cascade`;
  } catch (err) {
    console.error(`could not drop the bench schema ${schema}: ${(err as Error).message}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

process.exitCode = await main(process.argv.slice(2));
