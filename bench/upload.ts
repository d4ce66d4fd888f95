/**
 * `npm run bench [-- --size 256MiB --chunk 1MiB]`: upload throughput, side by side in one run.
 *
 * Each row uploads the same amount of data to a freshly started server process and reports MiB/s
 * and the server's peak RSS (VmHWM). Rows:
 *   baseline        plain Node http server writing the body to a file + fsync (bench/baseline-server.ts)
 *   grpc (HTTP/2)   FilesService.UploadContent client stream, the typed client path
 *   connect (HTTP/1.1)  the same RPC with the Connect protocol
 * The ratio column is each row's throughput over the baseline's.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { FilesService } from "../gen/files/v1/files_pb.js";
import { parseBytes } from "../src/config.js";

const MiB = 1024 * 1024;
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const size = parseBytes(args.get("size") ?? "256MiB")!;
const chunkSize = parseBytes(args.get("chunk") ?? "1MiB")!;
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
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
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
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", headers: { "content-length": size } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`baseline answered ${res.statusCode}`))));
      });
      req.on("error", reject);
      const parts = body();
      const pump = () => {
        for (let next = parts.next(); !next.done; next = parts.next()) if (!req.write(next.value)) return void req.once("drain", pump);
        req.end();
      };
      pump();
    });
    return { name: "baseline (http + fsync)", seconds: (performance.now() - started) / 1000, peakRssMiB: await peakRssMiB(child.pid!) };
  } finally {
    await stop(child);
  }
}

async function benchService(dir: string, transportName: "grpc (HTTP/2)" | "connect (HTTP/1.1)"): Promise<Row> {
  const env = { ...process.env, PORT: "0", BLOB_DIR: path.join(dir, "blobs"), DATABASE_SCHEMA: `bench_${process.pid}`, SWEEP_INTERVAL_SECONDS: "0" };
  const { child, port } = await startProcess([process.execPath, ...(process.env.BENCH_SERVER_NODE_FLAGS ?? "").split(" ").filter(Boolean), "--import", "tsx", "src/main.ts"], env, (line) => {
    const m = /"message":"listening","url":"http:\/\/[^"]*:(\d+)"/.exec(line);
    return m ? Number(m[1]) : undefined;
  });
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    const transport = transportName.startsWith("grpc") ? createGrpcTransport({ baseUrl }) : createConnectTransport({ baseUrl, httpVersion: "1.1" });
    const client = createClient(FilesService, transport);
    const started = performance.now();
    const { session } = await client.createUploadSession({ bucket: "bench", key: `upload-${transportName.slice(0, 4)}`, size: BigInt(size), sha256: expectedSha });
    const res = await client.uploadContent(
      (async function* () {
        let first = true;
        for (const data of body()) {
          yield { uploadId: first ? session!.id : "", data };
          first = false;
        }
      })(),
    );
    const seconds = (performance.now() - started) / 1000;
    if (res.file?.sha256 !== expectedSha) throw new Error("uploaded content does not match");
    return { name: transportName, seconds, peakRssMiB: await peakRssMiB(child.pid!) };
  } finally {
    await stop(child);
  }
}

const dir = await mkdtemp(path.join(tmpdir(), "files-bench-"));
try {
  console.log(`uploading ${(size / MiB).toFixed(0)} MiB in ${(chunkSize / 1024).toFixed(0)} KiB messages/writes; database: ${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded"}`);
  const rows = [await benchBaseline(dir), await benchService(dir, "grpc (HTTP/2)"), await benchService(dir, "connect (HTTP/1.1)")];
  const baseline = size / MiB / rows[0].seconds;
  console.log("\n| upload | MiB/s | ratio to baseline | server peak RSS (MiB) |\n|---|---:|---:|---:|");
  for (const row of rows) {
    const rate = size / MiB / row.seconds;
    console.log(`| ${row.name} | ${rate.toFixed(0)} | ${(rate / baseline).toFixed(2)} | ${row.peakRssMiB.toFixed(0)} |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
