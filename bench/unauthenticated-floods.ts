/**
 * `DATABASE_URL=… node --import tsx bench/unauthenticated-floods.ts [--connections 1000]
 * [--trickle-seconds 30] [--hold-seconds 75] [--senders 3] [--nested-bytes 2MiB] [--seconds 10]`:
 * the two floods of issue 8 against a server process with API keys configured.
 *
 * 1. Slow keyless bodies: `--connections` sockets each send the headers of `POST /v1/files` with
 *    Content-Length 1 MB and then one byte every `--trickle-seconds`. After `--hold-seconds` it
 *    prints the server's open file descriptors (/proc/<pid>/fd) and how many sockets are still open
 *    and how many were answered.
 * 2. Parsing without a key: `--senders` loops post a `--nested-bytes` deeply nested JSON body
 *    without a key, while one client with a key calls GetFile in a loop; prints GetFile's p50 and
 *    p99 alone and under the senders, and what the senders were answered.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { FilesService } from "../gen/files/v1/files_pb.js";
import { parseBytes } from "../src/config.js";
import { startServerProcess } from "../test/support/server-process.js";

const key = "flood-key-0123456789abcdef";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const connections = Number(option("connections", "1000"));
const trickleMs = Number(option("trickle-seconds", "30")) * 1000;
const holdMs = Number(option("hold-seconds", "75")) * 1000;
const senders = Number(option("senders", "3"));
const nestedBytes = parseBytes(option("nested-bytes", "2MiB"))!;
const seconds = Number(option("seconds", "10"));

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function slowKeylessBodies(port: number, pid: number): Promise<void> {
  const before = openFds(pid);
  const sockets: net.Socket[] = [];
  let answered = 0;
  let closed = 0;
  const statuses = new Map<string, number>();
  for (let i = 0; i < connections; i++) {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    let first = true;
    socket.on("data", (data) => {
      if (!first) return;
      first = false;
      answered++;
      const status = data.toString("latin1").split("\r\n", 1)[0];
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    socket.once("close", () => closed++);
    socket.write(
      "POST /v1/files HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{",
    );
    sockets.push(socket);
    if (i % 100 === 99) await sleep(50); // do not overrun the listen backlog
  }
  const trickle = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write(" ");
  }, trickleMs);
  const started = Date.now();
  while (Date.now() - started < holdMs) await sleep(1000);
  const fds = openFds(pid);
  clearInterval(trickle);
  console.log(
    `slow keyless bodies: ${connections} connections, one byte every ${trickleMs / 1000} s; after ${holdMs / 1000} s: ` +
      `server fds ${before} -> ${fds}, still open ${connections - closed}, answered ${answered} ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  for (const s of sockets) s.destroy();
  while (openFds(pid) > before + 5) await sleep(200);
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function getFileLatencies(port: number, ms: number): Promise<number[]> {
  const withKey: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
  const files = createClient(
    FilesService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, interceptors: [withKey] }),
  );
  const samples: number[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const started = performance.now();
    await files.getFile({ bucket: "flood", key: "a.txt" });
    samples.push(performance.now() - started);
  }
  return samples;
}

async function nestedJsonSenders(port: number): Promise<void> {
  const depth = Math.floor(nestedBytes / 2);
  const body = Buffer.from("[".repeat(depth) + "]".repeat(depth));
  const alone = await getFileLatencies(port, seconds * 1000);
  let running = true;
  const answers = new Map<string, number>();
  let sent = 0;
  const send = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = http.request(
        {
          port,
          host: "127.0.0.1",
          method: "POST",
          path: "/v1/files",
          agent: false,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          res.resume();
          res.once("end", () => {
            const kind = `${res.statusCode} in ${performance.now() - started < 50 ? "<50" : ">=50"} ms`;
            answers.set(kind, (answers.get(kind) ?? 0) + 1);
            resolve();
          });
        },
      );
      req.on("error", () => resolve());
      req.end(body);
      sent++;
    });
  const loops = Array.from({ length: senders }, async () => {
    while (running) await send();
  });
  const loaded = await getFileLatencies(port, seconds * 1000);
  running = false;
  await Promise.all(loops);
  const show = (s: number[]) =>
    `p50 ${percentile(s, 50).toFixed(1)} ms, p99 ${percentile(s, 99).toFixed(1)} ms (${s.length} calls)`;
  console.log(`GetFile alone: ${show(alone)}`);
  console.log(
    `GetFile while ${senders} senders post ${(body.length / 1024 / 1024).toFixed(1)} MiB nested JSON without a key: ${show(loaded)}; senders sent ${sent}, answered ${JSON.stringify(Object.fromEntries(answers))}`,
  );
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error("set DATABASE_URL");
  const blobDir = await mkdtemp(path.join(tmpdir(), "floods-"));
  const schema = `floods_${process.pid}`;
  const server = await startServerProcess({
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: schema,
    BLOB_DIR: blobDir,
    API_KEYS: `${key}:rw:*`,
  });
  try {
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const created = (await (
      await fetch(`http://127.0.0.1:${server.port}/v1/files`, {
        method: "POST",
        headers,
        body: JSON.stringify({ bucket: "flood", key: "a.txt", size: 1 }),
      })
    ).json()) as { id: string };
    await fetch(`http://127.0.0.1:${server.port}/v1/files/session:${created.id}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: "x",
    });
    if (connections > 0) await slowKeylessBodies(server.port, server.child.pid!);
    if (senders > 0) await nestedJsonSenders(server.port);
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    const sql = postgres(databaseUrl, { onnotice: () => undefined });
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    await sql.end();
    await rm(blobDir, { recursive: true, force: true });
  }
}

await main();
