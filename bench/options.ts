/**
 * `npm run bench` flags, read with util.parseArgs (`--size 1GiB` or `--size=1GiB`). An unknown
 * flag is an error, so that a typo never silently benchmarks something else.
 */
import { parseArgs } from "node:util";
import { parseBytes } from "../src/config.js";

/** What one bench run measures, and how. */
export interface BenchOptions {
  /** Bytes of each upload and download. */
  size: number;
  /** Bytes of each write or message the client sends (one random chunk, re-sent). */
  chunk: number;
  /** Row prefixes to run (`upload`, `download/rest`, `grpc`…); empty: every row. */
  only: string[];
  /** Seconds each metadata row is measured, after a warm-up of a fifth of that. */
  seconds: number;
  /** Concurrent connections of each metadata row. */
  connections: number;
  /** `s3`: also the S3 rows, the service storing into the S3 the environment names. */
  blobStore: "dir" | "s3";
  /** Print the results as one JSON object instead of the table. */
  json: boolean;
  help: boolean;
}

/** The usage line printed by `--help` and after a bad flag. */
export const usage = `usage: npm run bench -- [--size 256MiB] [--chunk 1MiB] [--only <row prefix>]… [--seconds 5] [--connections 32] [--blob-store s3] [--json]

  --size         bytes of each upload and download (binary units: 32MiB, 1GiB)
  --chunk        bytes of each client write or message
  --only         run only rows whose name (or name after "upload/", "download/", "metadata/")
                 starts with this; repeatable. The baseline of each chosen group always runs.
  --seconds      how long each metadata row is measured
  --connections  concurrent connections of each metadata row
  --blob-store   s3: also the s3-upload/* and s3-download/* rows, the service on the S3 of
                 S3_TEST_ENDPOINT etc. (else AWS_*) beside the AWS SDK on it alone (default: dir)
  --json         print one JSON object instead of the table (progress still goes to stderr)

BENCH_SERVER_NODE_FLAGS (e.g. "--cpu-prof") is passed to every service process.`;

/** Reads the flags; throws with a message naming the flag when one is unknown or malformed. */
export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: "string", default: "256MiB" },
      chunk: { type: "string", default: "1MiB" },
      only: { type: "string", multiple: true, default: [] },
      seconds: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
      "blob-store": { type: "string", default: "dir" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  return {
    size: bytes("size", values.size),
    chunk: bytes("chunk", values.chunk),
    only: values.only,
    seconds: positive("seconds", values.seconds),
    connections: positive("connections", values.connections),
    blobStore: blobStore(values["blob-store"]),
    json: values.json,
    help: values.help,
  };
}

function bytes(flag: string, raw: string): number {
  const value = parseBytes(raw);
  if (value === undefined || value === 0) throw new Error(`--${flag}: "${raw}" is not a size (e.g. 256MiB)`);
  return value;
}

function positive(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) === 0) throw new Error(`--${flag}: "${raw}" is not a positive whole number`);
  return Number(raw);
}

function blobStore(raw: string): BenchOptions["blobStore"] {
  if (raw !== "dir" && raw !== "s3") throw new Error(`--blob-store: "${raw}" is neither dir nor s3`);
  return raw;
}
