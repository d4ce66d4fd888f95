/**
 * A database outage for real: the test runs its own Postgres (the embedded one, in a temp dir on
 * a free port), the server runs as a child process on it, and that Postgres is stopped in the
 * middle of uploads and reads. Calls must fail fast with unavailable, the process must live on and
 * report NOT_SERVING, and once Postgres is back it must serve again by itself, with the upload
 * that the outage cut resuming from its committed offset.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/dev/embedded-postgres/embedded-postgres.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { chunks, content, download, eventually, sha256, uploadFile } from "../support/uploads.js";
import { freePort } from "../support/free-port.js";
import { timedFailureOf } from "../support/connect-errors.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let dir: string;
let port: number;
let postgres: EmbeddedPostgres | undefined;
let server: ServerProcess | undefined;

const startPostgres = () => startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "files-outage-"));
  await chmod(dir, 0o755); // as root, the embedded Postgres runs as user "postgres" and must enter it
  port = await freePort();
  postgres = await startPostgres();
}, 120_000);
afterAll(async () => {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill("SIGKILL");
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

/** Sends `data` in 64 KiB messages, one every `pauseMs`, then calls `sent` and waits until `stop` aborts. */
async function* trickle(uploadId: string, data: Buffer, pauseMs: number, stop: AbortSignal, sent: () => void) {
  for (let i = 0; i < data.length && !stop.aborted; i += 64 * KiB) {
    yield { uploadId: i === 0 ? uploadId : "", data: data.subarray(i, i + 64 * KiB) };
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  sent();
  await new Promise((resolve) => stop.addEventListener("abort", resolve));
}

test("Postgres stops and comes back: calls fail fast with unavailable, health follows, the service recovers by itself", async () => {
  server = await startServerProcess({
    DATABASE_URL: postgres!.url,
    BLOB_DIR: path.join(dir, "blobs"),
    CHECKPOINT_BYTES: "256KiB",
    SHUTDOWN_GRACE_SECONDS: "2",
  });
  const files = server.client;
  const health = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
  const healthz = async () => {
    const res = await fetch(`http://127.0.0.1:${server!.port}/healthz`);
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const deadline = { timeoutMs: 20_000 }; // a hang shows as deadline_exceeded, not as a stuck test

  // Before: the service works.
  const stored = content(300 * KiB);
  await uploadFile(files, "outage", "before.bin", stored);
  expect((await health.check({})).status).toBe(ServingStatus.SERVING);
  expect(await healthz()).toEqual({ status: 200, body: { status: "SERVING" } });

  // An upload is running (and committing checkpoints) when the database goes away.
  const data = content(4 * MiB);
  const { session } = await files.createUploadSession({
    bucket: "outage",
    key: "cut.bin",
    size: BigInt(data.length),
    sha256: sha256(data),
  });
  const id = session!.id;
  const stop = new AbortController();
  // 64 KiB every 40 ms: still sending when Postgres stops at about 1 MiB.
  let sending = true;
  const cut = files
    .uploadContent(trickle(id, data.subarray(0, 3 * MiB), 40, stop.signal, () => (sending = false)))
    .catch((e: unknown) => e);
  await eventually(async () => (await files.getUploadSession({ uploadId: id })).session!.offset >= BigInt(MiB), 20_000);

  await postgres!.stop();
  postgres = undefined;

  // During: every call that needs the database fails fast with unavailable and a plain message.
  const calls: [string, () => Promise<unknown>][] = [
    ["GetFile", () => files.getFile({ bucket: "outage", key: "before.bin" }, deadline)],
    ["ListFiles", () => files.listFiles({ bucket: "outage" }, deadline)],
    ["DownloadFile", () => download(files, "outage", "before.bin")],
    [
      "CreateUploadSession",
      () => files.createUploadSession({ bucket: "outage", key: "during.bin", size: 1n }, deadline),
    ],
    ["GetUploadSession", () => files.getUploadSession({ uploadId: id }, deadline)],
    ["UploadContent", () => files.uploadContent(chunks(id, data.subarray(0, 64 * KiB), 64 * KiB, 0), deadline)],
  ];
  for (const [name, call] of calls) {
    const { err, ms } = await timedFailureOf(call);
    expect([name, Code[err.code], err.rawMessage]).toEqual([
      name,
      Code[Code.Unavailable],
      "metadata store unavailable; retry shortly",
    ]);
    expect(err.rawMessage).toBe("metadata store unavailable; retry shortly");
    expect(ms).toBeLessThan(8000);
  }
  // The running upload fails at its next checkpoint, while the client is still sending.
  const cutErr = await cut;
  expect(sending).toBe(true);
  stop.abort();
  expect(cutErr).toBeInstanceOf(ConnectError);
  expect(Code[(cutErr as ConnectError).code]).toBe(Code[Code.Unavailable]);

  await eventually(async () => (await health.check({})).status === ServingStatus.NOT_SERVING, 10_000);
  expect(await healthz()).toEqual({ status: 503, body: { status: "NOT_SERVING" } });
  expect(server.child.exitCode).toBeNull(); // alive: an outage is not a reason to exit

  // After: the same Postgres comes back; the server reconnects by itself.
  postgres = await startPostgres();
  await eventually(async () => (await health.check({})).status === ServingStatus.SERVING, 20_000);
  expect(await healthz()).toEqual({ status: 200, body: { status: "SERVING" } });
  expect(sha256((await download(files, "outage", "before.bin")).data)).toBe(sha256(stored));

  // The cut upload resumes from its committed offset (it needs the session lock connection back).
  const offset = Number((await files.getUploadSession({ uploadId: id })).session!.offset);
  expect(offset).toBeGreaterThanOrEqual(MiB);
  expect(offset).toBeLessThanOrEqual(3 * MiB);
  const res = await files.uploadContent(chunks(id, data.subarray(offset), 256 * KiB, offset));
  expect(res.file?.sha256).toBe(sha256(data));
  expect(sha256((await download(files, "outage", "cut.bin")).data)).toBe(sha256(data));
  const after = content(10 * KiB);
  expect((await uploadFile(files, "outage", "after.bin", after)).file?.sha256).toBe(sha256(after));

  expect(server.log.join("\n")).not.toMatch(/uncaught|unhandled/i);

  // Stopped during another outage (as an orchestrator restarting an unhealthy pod does): it
  // still stops promptly and cleanly.
  await postgres.stop();
  postgres = undefined;
  const stopping = Date.now();
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  expect(Date.now() - stopping).toBeLessThan(15_000);
}, 120_000);
