/**
 * Faults for real: the server process is SIGKILLed in the middle of an upload, or SIGTERMed, and
 * what it acknowledged must hold afterwards.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, sessionLockHolder, type TestDatabase } from "../support/database.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { chunks, content, download, eventually, partialBytes, sha256 } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let db: TestDatabase;
let blobDir: string;
let env: Record<string, string>;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  blobDir = await mkdtemp(path.join(tmpdir(), "files-crash-"));
  env = {
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: blobDir,
    CHECKPOINT_BYTES: "1MiB",
    SHUTDOWN_GRACE_SECONDS: "1",
  };
});
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill("SIGKILL");
  await db?.drop();
  await rm(blobDir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const server = await startServerProcess(env);
  servers.push(server);
  return server;
}

/** Sends `data` in 64 KiB messages, pausing now and then so the upload is still running when hit. */
async function* trickle(uploadId: string, data: Buffer, stop: AbortSignal) {
  for (let i = 0; i < data.length && !stop.aborted; i += 64 * KiB) {
    yield { uploadId: i === 0 ? uploadId : "", data: data.subarray(i, i + 64 * KiB) };
    if (i % MiB === 0) await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((resolve) => stop.addEventListener("abort", resolve));
}

test("SIGKILL mid-upload: after restart the upload resumes from the committed offset with a matching sha256", async () => {
  const data = content(12 * MiB);
  let server = await start();
  const { session } = await server.client.createUploadSession({
    bucket: "crash",
    key: "big.bin",
    size: BigInt(data.length),
    sha256: sha256(data),
  });
  const id = session!.id;
  const stop = new AbortController();
  const call = server.client
    .uploadContent(trickle(id, data.subarray(0, 10 * MiB), stop.signal))
    .catch((err: unknown) => err);
  await eventually(
    async () => (await server.client.getUploadSession({ uploadId: id })).session!.offset >= 3n * BigInt(MiB),
    20_000,
  );
  server.child.kill("SIGKILL");
  expect(await server.exited).toBe("SIGKILL");
  stop.abort();
  expect(await call).toBeInstanceOf(Error);

  server = await start();
  const offset = Number((await server.client.getUploadSession({ uploadId: id })).session!.offset);
  expect(offset).toBeGreaterThanOrEqual(3 * MiB);
  expect(offset % (64 * KiB)).toBe(0); // only whole messages are ever committed
  // Bytes past the committed offset may be on disk; they are cut off, never counted.
  expect(await partialBytes(blobDir, id)).toBeGreaterThanOrEqual(offset);

  // The running hash died with the process: the server rebuilds it from the committed prefix.
  // (Postgres drops the dead process's session lock once it sees its connection gone.)
  await eventually(async () => (await sessionLockHolder(db.sql, id)) === undefined);
  const res = await server.client.uploadContent(chunks(id, data.subarray(offset), 256 * KiB, offset));
  expect(res.file?.sha256).toBe(sha256(data));
  expect(sha256((await download(server.client, "crash", "big.bin")).data)).toBe(sha256(data));
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
});

test("SIGTERM: in-flight uploads commit what they received, then the process exits 0", async () => {
  const data = content(4 * MiB);
  let server = await start();
  const { session } = await server.client.createUploadSession({
    bucket: "term",
    key: "t.bin",
    size: BigInt(data.length),
  });
  const id = session!.id;
  const stop = new AbortController();
  const sent = 3 * MiB;
  const call = server.client
    .uploadContent(trickle(id, data.subarray(0, sent), stop.signal))
    .catch((err: unknown) => err);
  // Everything sent is on disk, perhaps not all of it committed yet: the shutdown must commit it.
  await eventually(async () => (await partialBytes(blobDir, id)) === sent, 20_000);
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  expect(server.log.join("\n")).toContain('"message":"stopped"');
  stop.abort();
  await call;

  server = await start();
  expect(Number((await server.client.getUploadSession({ uploadId: id })).session!.offset)).toBe(sent);
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
});
