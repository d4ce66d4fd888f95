/**
 * `npm run load [-- --uploads 200 --max-size 4MiB --readers 8]`: many concurrent uploads of random
 * sizes, half through the gRPC client stream and half as raw REST bodies, while readers list, read,
 * download and delete. Every upload is verified by sha256, and afterwards the consistency check
 * must find every file row backed by content of the right size and hash, and no content without a
 * row. Prints the throughput and the latency percentiles of the metadata calls under that load.
 *
 * Before the load, as many CreateUploadSession calls as there are uploads are sent at the same
 * moment, to the idle service and to a connect-node handler that answers without a database, in
 * the same run: what a p99 of calls that arrive together can be on this machine, whatever the
 * service does (measureBurst).
 *
 * runLoad() is also what test/e2e/load.test.ts runs, smaller, inside `npm test`.
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { parseBytes } from "../src/config.js";
import { checkConsistency, problemsOf, type ConsistencyReport } from "../src/fsck/consistency.js";
import { connectDatabase, migrate } from "../src/store/postgres/database.js";
import { createDirectoryBlobStore } from "../src/store/blobs/directory-blob-store.js";
import { createSessionLocks } from "../src/store/postgres/session-locks.js";
import { startServerProcess } from "../test/support/server-process.js";
import { formatBursts, grpcClient, measureBurst } from "./load-bursts.js";
import { percentiles, type Percentiles } from "./percentiles.js";
import { startServer } from "./processes.js";

/** What to run. */
export interface LoadOptions {
  /** Concurrent uploads, half over gRPC, half over REST. */
  uploads: number;
  maxSize: number;
  /** Concurrent reader loops (list, get, download, delete) while the uploads run. */
  readers: number;
}

/** What a run measured. */
export interface LoadReport {
  uploads: number;
  bytes: number;
  seconds: number;
  mibPerSecond: number;
  verified: number;
  /** Files stored before the load, so that readers have files to read from its first moment. */
  seeded: number;
  deleted: number;
  downloadsVerified: number;
  /** Milliseconds per metadata call kind as this client saw them: count, p50, p99, max. */
  latencies: Record<string, Percentiles>;
  /**
   * The same calls as the server's call log timed them (from its interceptor to its answer), when
   * its log lines were given: the difference is queueing before the handler, the network, and
   * this process, which shares the machine's cores with the server.
   */
  serverLatencies: Record<string, Percentiles>;
  consistency: ConsistencyReport;
  failures: string[];
}

/**
 * Runs the load against a server at `port`, whose database and blob directory are given for the
 * final check. `serverLog`, the server's log lines as they arrive, gives its own timings.
 */
export async function runLoad(
  port: number,
  store: { databaseUrl: string; schema: string; blobDir: string },
  options: LoadOptions,
  serverLog: readonly string[] = [],
): Promise<LoadReport> {
  const connect = () => grpcClient(port);
  // The uploaders share one connection; the readers are another client, on a connection of their
  // own: on the uploaders' one, their calls waited behind megabytes of upload frames in this
  // process's socket buffer (head-of-line blocking of the client, not the service).
  const files = connect();
  const readerFiles = connect();
  const samples: Record<string, number[]> = {};
  const timed = async <T>(name: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await call();
    } finally {
      samples[name] ??= [];
      samples[name].push(performance.now() - started);
    }
  };
  const failures: string[] = [];
  const done = new Map<string, string>(); // key -> sha256 of completed, not deleted files
  const deleted = new Set<string>();
  let downloadsVerified = 0;
  let running = true;

  // Every upload's content is made (and hashed) before the clock starts: made as each upload
  // begins, it kept this process busy for seconds while the first calls' timers ran, and the
  // latencies measured the load generator instead of the service.
  const plans = Array.from({ length: options.uploads }, (_, i) => {
    const size = i % 10 === 0 ? 0 : randomInt(1, options.maxSize + 1);
    const data = randomBytes(size);
    return { i, data, sum: createHash("sha256").update(data).digest("hex") };
  });

  const upload = async ({ i, data, sum }: (typeof plans)[number]) => {
    const size = data.length;
    const key = `load/${i % 2 === 0 ? "grpc" : "rest"}/${i}.bin`;
    const promise = i % 3 === 0 ? sum : "";
    const { session } = await timed("CreateUploadSession", () =>
      files.createUploadSession({ bucket: "load", key, size: BigInt(size), sha256: promise }),
    );
    let got: string | undefined;
    if (i % 2 === 0) {
      const res = await files.uploadContent(messages(session!.id, data));
      got = res.file?.sha256;
    } else {
      const res = await post(port, `/v1/files/session:${session!.id}`, data);
      if (res.status !== 200) throw new Error(`REST upload of ${key}: ${res.status} ${res.text}`);
      got = (JSON.parse(res.text) as { sha256: string }).sha256;
    }
    if (got !== sum) failures.push(`${key}: stored sha256 ${got}, sent ${sum}`);
    done.set(key, sum);
    return size;
  };

  const reader = async () => {
    // Each reader takes the calls in turn, from a random start: under a heavy load a reader gets
    // few turns, and every kind of call must still be measured.
    let turn = randomInt(0, 10);
    while (running) {
      const keys = [...done.keys()];
      const key = keys[randomInt(0, Math.max(1, keys.length))];
      const op = turn++ % 10;
      try {
        if (op < 2) await timed("ListBuckets", () => readerFiles.listBuckets({}));
        else if (op < 4 || !key)
          await timed("ListFiles", () => readerFiles.listFiles({ bucket: "load", prefix: "load/", pageSize: 50 }));
        else if (op < 7) {
          const { file } = await timed("GetFile", () => readerFiles.getFile({ bucket: "load", key }));
          if (file && done.has(key) && file.sha256 !== done.get(key))
            failures.push(`${key}: GetFile answered another sha256`);
        } else if (op < 9) {
          const hash = createHash("sha256");
          let info: string | undefined;
          for await (const part of readerFiles.downloadFile({ bucket: "load", key })) {
            if (part.part.case === "info") info = part.part.value.sha256;
            else if (part.part.case === "data") hash.update(part.part.value);
          }
          if (hash.digest("hex") !== info) failures.push(`${key}: downloaded bytes do not match their sha256`);
          else downloadsVerified++;
        } else if (done.delete(key)) {
          await timed("DeleteFile", () => readerFiles.deleteFile({ bucket: "load", key }));
          deleted.add(key);
        }
      } catch (err) {
        // A file deleted by another reader between choosing and reading it is fine; nothing else is.
        if (!/not found|was replaced or deleted/.test(String(err))) failures.push(`reader: ${String(err)}`);
      }
    }
  };

  // A few files stored beforehand: without them the readers have nothing to read, get or delete
  // until the first uploads complete, and under a heavy load that can be most of the run.
  const seeded = options.readers;
  for (let i = 0; i < seeded; i++) {
    const data = randomBytes(1024);
    const key = `load/seed/${i}.bin`;
    const { session } = await files.createUploadSession({ bucket: "load", key, size: BigInt(data.length) });
    await files.uploadContent(messages(session!.id, data));
    done.set(key, createHash("sha256").update(data).digest("hex"));
  }

  const started = performance.now();
  const logFrom = serverLog.length;
  const readers = Array.from({ length: options.readers }, reader);
  const sizes = await Promise.all(plans.map(upload));
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await Promise.all(readers);

  // Every file that is still there has its content, and its bytes hash right.
  for (const [key, sum] of done) {
    const { file } = await files.getFile({ bucket: "load", key });
    if (file?.sha256 !== sum) failures.push(`${key}: after the run, sha256 ${file?.sha256}`);
  }
  const consistency = await checkStore(store);
  for (const p of problemsOf(consistency)) failures.push(`consistency: ${p.kind} ${p.id}: ${p.detail}`);

  const bytes = sizes.reduce((a, b) => a + b, 0);
  const latencies = Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, percentiles(list)]));
  const serverLatencies = Object.fromEntries(
    Object.entries(callTimes(serverLog.slice(logFrom), Object.keys(samples))).map(([name, list]) => [
      name,
      percentiles(list),
    ]),
  );
  return {
    uploads: options.uploads,
    bytes,
    seconds,
    mibPerSecond: bytes / 1048576 / seconds,
    verified: options.uploads - failures.filter((f) => f.includes("stored sha256")).length,
    seeded,
    deleted: deleted.size,
    downloadsVerified,
    latencies,
    serverLatencies,
    consistency,
    failures,
  };
}

/** Milliseconds of the named methods' calls, from the server's call log lines (JSON, one a line). */
function callTimes(lines: readonly string[], methods: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of lines) {
    if (!line.includes('"message":"call"')) continue;
    const { rpc, ms } = JSON.parse(line) as { rpc: string; ms: number };
    const method = rpc.slice(rpc.lastIndexOf("/") + 1);
    if (!methods.includes(method)) continue;
    out[method] ??= [];
    out[method].push(ms);
  }
  return out;
}

async function checkStore(store: { databaseUrl: string; schema: string; blobDir: string }): Promise<ConsistencyReport> {
  const sql = connectDatabase({ url: store.databaseUrl, schema: store.schema, max: 2 });
  const locks = createSessionLocks(store.databaseUrl, store.schema);
  try {
    return await checkConsistency({ sql, blobs: await createDirectoryBlobStore(store.blobDir), locks });
  } finally {
    await locks.close();
    await sql.end({ timeout: 5 });
  }
}

async function* messages(uploadId: string, data: Buffer) {
  yield { uploadId };
  for (let i = 0; i < data.length; i += 256 * 1024) yield { data: data.subarray(i, i + 256 * 1024) };
}

function post(port: number, pathname: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", path: pathname, headers: { "content-length": body.length } },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A one-line-per-call summary. */
export function formatLoadReport(r: LoadReport): string {
  const lines = [
    `${r.uploads} concurrent uploads (half gRPC, half REST), ${(r.bytes / 1048576).toFixed(0)} MiB in ${r.seconds.toFixed(1)} s: ${r.mibPerSecond.toFixed(0)} MiB/s`,
    `verified by sha256: ${r.verified}/${r.uploads}; downloads verified: ${r.downloadsVerified}; deleted meanwhile: ${r.deleted} (of them and ${r.seeded} files stored before)`,
    `consistency: ${r.consistency.checked.files} files, ${r.consistency.checked.blobs} blobs checked, ${problemsOf(r.consistency).length} problems`,
    "| call | count | p50 ms | p99 ms | max ms | server's own p50 / p99 ms |",
    "|---|---:|---:|---:|---:|---:|",
    ...Object.entries(r.latencies).map(([name, l]) => {
      const own = r.serverLatencies[name];
      return `| ${name} | ${l.count} | ${l.p50} | ${l.p99} | ${l.max} | ${own ? `${own.p50} / ${own.p99}` : ""} |`;
    }),
  ];
  if (r.failures.length > 0) lines.push(`FAILURES (${r.failures.length}):`, ...r.failures.slice(0, 20));
  return lines.join("\n");
}

/** The command line's options (`--uploads 200` or `--uploads=200`); an unknown flag is an error, not ignored. */
function parseLoadOptions(argv: string[]): LoadOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      uploads: { type: "string", default: "200" },
      "max-size": { type: "string", default: "4MiB" },
      readers: { type: "string", default: "8" },
    },
  });
  const count = (flag: string, raw: string) => {
    if (!/^\d+$/.test(raw)) throw new Error(`--${flag}: "${raw}" is not a whole number`);
    return Number(raw);
  };
  const maxSize = parseBytes(values["max-size"]);
  if (maxSize === undefined) throw new Error(`--max-size: "${values["max-size"]}" is not a size (e.g. 4MiB)`);
  return { uploads: count("uploads", values.uploads), maxSize, readers: count("readers", values.readers) };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const options = parseLoadOptions(process.argv.slice(2));
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl)
    throw new Error("npm run load needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
  const schema = `load_${process.pid}`;
  const blobDir = await mkdtemp(path.join(tmpdir(), "files-load-"));
  const setup = connectDatabase({ url: databaseUrl, schema, max: 1 });
  await migrate(setup, schema);
  const server = await startServerProcess({
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    BLOB_DIR: blobDir,
    DATABASE_POOL_MAX: "20",
  });
  const reference = await startServer([process.execPath, "--import", "tsx", "bench/constant-files-server.ts", "h2c"]);
  try {
    const bursts = [
      await measureBurst("a connect-node handler with no database (the bound)", reference.port, options.uploads),
      await measureBurst("the service", server.port, options.uploads),
    ];
    await reference.stop();
    console.log(formatBursts(options.uploads, bursts));
    console.log();
    const report = await runLoad(server.port, { databaseUrl, schema, blobDir }, options, server.log);
    console.log(formatLoadReport(report));
    process.exitCode = report.failures.length > 0 ? 1 : 0;
  } finally {
    await reference.stop();
    server.child.kill("SIGTERM");
    await server.exited;
    await setup`drop schema if exists ${setup(schema)} cascade`;
    await setup.end({ timeout: 5 });
    await rm(blobDir, { recursive: true, force: true });
  }
}
