/**
 * `npm run bench [-- --size 256MiB --chunk 1MiB --only rest]`: upload throughput, side by side in one run.
 *
 * Each row uploads the same amount of data to a freshly started server process and reports MiB/s
 * and the server's peak RSS (VmHWM). Rows:
 *   baseline        plain Node http server writing the body to a file + fsync (bench/baseline-server.ts)
 *   grpc (HTTP/2)   FilesService.UploadContent client stream, the typed client path
 *   connect (HTTP/1.1)  the same RPC with the Connect protocol
 *   rest (HTTP/1.1) the raw body POSTed to /v1/files/session:{id} through the REST transcoder
 * The ratio column is each row's throughput over the baseline's; RSS growth is the server's peak
 * RSS during the upload minus its RSS just before it.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { FilesService } from "../gen/files/v1/files_pb.js";
import postgres from "postgres";
import { parseBytes } from "../src/config.js";

const MiB = 1024 * 1024;
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const size = parseBytes(args.get("size") ?? "256MiB")!;
const chunkSize = parseBytes(args.get("chunk") ?? "1MiB")!;
// `--only rest` (or grpc, connect): just that row beside the baseline.
const only = args.get("only");
const root = path.resolve(import.meta.dirname, "..");

// One random chunk, sent over and over: the client side costs nothing and allocates nothing.
const chunk = randomBytes(chunkSize);
function* body(): Generator<Buffer> {
  for (let sent = 0; sent < size; sent += chunkSize) yield sent + chunkSize <= size ? chunk : chunk.subarray(0, size - sent);
}
const expectedSha = (() => {
  const h = createHash("sha256");
  for (const part of body()) h.update(part);
  return h.digest("hex");
})();

interface Row {
  name: string;
  seconds: number;
  peakRssMiB: number;
  startRssMiB: number;
}

async function rssMiB(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
}

/** Resets the peak RSS counter (VmHWM), so the peak measured is the upload's own. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined);
}

/** POSTs the body raw, streaming, with backpressure; resolves with the response text. */
function postRaw(port: number, path: string, headers: http.OutgoingHttpHeaders): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path, headers: { "content-length": size, ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${path} answered ${res.statusCode}: ${text}`))));
    });
    req.on("error", reject);
    const parts = body();
    const pump = () => {
      for (let next = parts.next(); !next.done; next = parts.next()) if (!req.write(next.value)) return void req.once("drain", pump);
      req.end();
    };
    pump();
  });
}

/** Starts a process and waits for the first stdout/stderr line `ready` recognises. */
async function startProcess(command: string[], env: NodeJS.ProcessEnv, ready: (line: string) => number | undefined) {
  const child = spawn(command[0], command.slice(1), { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    const onLine = (line: string) => {
      const p = ready(line);
      if (p) resolve(p);
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.once("exit", (code) => reject(new Error(`${command.join(" ")} exited with ${code}`)));
  });
  return { child, port };
}

async function stop(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

async function benchBaseline(dir: string): Promise<Row> {
  const { child, port } = await startProcess([process.execPath, "--import", "tsx", "bench/baseline-server.ts", dir], process.env, (line) => {
    try {
      return JSON.parse(line).port;
    } catch {
      return undefined;
    }
  });
  try {
    await resetPeak(child.pid!);
    const startRssMiB = await rssMiB(child.pid!, "VmRSS");
    const started = performance.now();
    await postRaw(port, "/", {});
    return { name: "baseline (http + fsync)", seconds: (performance.now() - started) / 1000, peakRssMiB: await rssMiB(child.pid!, "VmHWM"), startRssMiB };
  } finally {
    await stop(child);
  }
}

type Service = "grpc (HTTP/2)" | "connect (HTTP/1.1)" | "rest (HTTP/1.1)";

async function benchService(dir: string, name: Service): Promise<Row> {
  const env = { ...process.env, PORT: "0", BLOB_DIR: path.join(dir, "blobs"), DATABASE_SCHEMA: schema, SWEEP_INTERVAL_SECONDS: "0" };
  const { child, port } = await startProcess([process.execPath, ...(process.env.BENCH_SERVER_NODE_FLAGS ?? "").split(" ").filter(Boolean), "--import", "tsx", "src/main.ts"], env, (line) => {
    const m = /"message":"listening","url":"http:\/\/[^"]*:(\d+)"/.exec(line);
    return m ? Number(m[1]) : undefined;
  });
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    const transport = name.startsWith("grpc") ? createGrpcTransport({ baseUrl }) : createConnectTransport({ baseUrl, httpVersion: "1.1" });
    const client = createClient(FilesService, transport);
    // Warm up (first requests compile code paths), then measure from a reset peak.
    await client.listBuckets({});
    await resetPeak(child.pid!);
    const startRssMiB = await rssMiB(child.pid!, "VmRSS");
    const started = performance.now();
    const { session } = await client.createUploadSession({ bucket: "bench", key: `upload-${name.slice(0, 4)}`, size: BigInt(size), sha256: expectedSha });
    let sha256: string | undefined;
    if (name.startsWith("rest")) {
      sha256 = (JSON.parse(await postRaw(port, `/v1/files/session:${session!.id}`, { "content-type": "application/octet-stream" })) as { sha256: string }).sha256;
    } else {
      const res = await client.uploadContent(
        (async function* () {
          let first = true;
          for (const data of body()) {
            yield { uploadId: first ? session!.id : "", data };
            first = false;
          }
        })(),
      );
      sha256 = res.file?.sha256;
    }
    const seconds = (performance.now() - started) / 1000;
    if (sha256 !== expectedSha) throw new Error(`${name}: uploaded content does not match`);
    return { name, seconds, peakRssMiB: await rssMiB(child.pid!, "VmHWM"), startRssMiB };
  } finally {
    await stop(child);
  }
}

// Tables of this run go into a schema of their own, dropped at the end.
const schema = `bench_${process.pid}`;
const dir = await mkdtemp(path.join(tmpdir(), "files-bench-"));
try {
  console.log(`uploading ${(size / MiB).toFixed(0)} MiB in ${(chunkSize / 1024).toFixed(0)} KiB messages/writes; database: ${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded"}`);
  const rows = [await benchBaseline(dir)];
  for (const name of ["grpc (HTTP/2)", "connect (HTTP/1.1)", "rest (HTTP/1.1)"] as const) {
    if (!only || name.startsWith(only)) rows.push(await benchService(dir, name));
  }
  const baseline = size / MiB / rows[0].seconds;
  console.log("\n| upload | MiB/s | ratio to baseline | server peak RSS (MiB) | RSS growth (MiB) |\n|---|---:|---:|---:|---:|");
  for (const row of rows) {
    const rate = size / MiB / row.seconds;
    console.log(`| ${row.name} | ${rate.toFixed(0)} | ${(rate / baseline).toFixed(2)} | ${row.peakRssMiB.toFixed(0)} | ${(row.peakRssMiB - row.startRssMiB).toFixed(0)} |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
  if (process.env.DATABASE_URL) {
    const sql = postgres(process.env.DATABASE_URL, { onnotice: () => {} });
    await sql`drop schema if exists ${sql(schema)} cascade`;
    await sql.end();
  }
}
