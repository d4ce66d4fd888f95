/**
 * A file whose content is missing or cut short (disk damage, an operator's mistake), as a user
 * meets it through `npm start` and curl: the server checks the content before the status line and
 * answers a clear error — never a 200 followed by an empty or short body — logs it at error level
 * with the bucket and key, and records it for `npm run fsck`.
 */
import { Code } from "@connectrpc/connect";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { listening, npmStart, stopEverything, type NpmServer, type NpmStart } from "../support/npm-start.js";
import { content, uploadFile } from "../support/uploads.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

let db: TestDatabase;
let dir: string;
let server: NpmServer;
const starts: NpmStart[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "files-missing-"));
  const started = npmStart({ DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema, BLOB_DIR: dir });
  starts.push(started);
  server = await listening(started);
}, 60_000);
afterAll(async () => {
  await stopEverything(starts, path.join(dir, "no-embedded-postgres"));
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Stores a file and answers the path of its content in the blob directory. */
async function stored(key: string, bytes: number): Promise<string> {
  await uploadFile(server.client, "damaged", key, content(bytes));
  const [{ blobId }] = await db.sql<
    { blobId: string }[]
  >`select blob_id from files where bucket = 'damaged' and key = ${key}`;
  return path.join(dir, "blobs", blobId.slice(0, 2), blobId);
}

/** curl as a user runs it: the status, the headers and the body it saved. */
async function curl(...args: string[]) {
  const out = path.join(dir, "curl-body");
  const { stdout } = await run("curl", ["-sS", "-o", out, "-D", "-", ...args]).catch(
    (err: { stdout: string; stderr: string }) => {
      throw new Error(`curl failed: ${err.stderr}`);
    },
  );
  const status = Number(/^HTTP\/[\d.]+ (\d+)/m.exec(stdout)![1]);
  return { status, headers: stdout, body: await readFile(out, "utf8").catch(() => "") };
}

test("missing content: 500 data_loss before any byte, over REST (GET, HEAD, Range) and gRPC; logged and recorded", async () => {
  const blob = await stored("gone.bin", 100_000);
  await rm(blob);
  const url = `http://127.0.0.1:${server.port}/v1/files/damaged/gone.bin:content`;

  const get = await curl(url);
  expect(get.status).toBe(500);
  expect(JSON.parse(get.body)).toEqual({
    code: "data_loss",
    message: expect.stringMatching(/^the content of file damaged\/gone\.bin is missing on the server/),
  });
  expect((await curl("-I", url)).status).toBe(500);
  expect((await curl("-r", "10-20", url)).status).toBe(500);

  const messages: string[] = [];
  const stream = server.client.downloadFile({ bucket: "damaged", key: "gone.bin" });
  await expect(
    (async () => {
      for await (const m of stream) messages.push(m.part.case!);
    })(),
  ).rejects.toMatchObject({ code: Code.DataLoss });
  expect(messages).toEqual([]); // not even the info: the client is told before it starts

  const logged = server.log.filter((line) => line.includes('"stored content is damaged"'));
  expect(logged.length).toBe(4);
  expect(JSON.parse(logged[0])).toMatchObject({
    level: "error",
    bucket: "damaged",
    key: "gone.bin",
    problem: "content missing",
  });
  const [fault] = await db.sql`select bucket, key, problem, times from content_faults`;
  expect(fault).toEqual({ bucket: "damaged", key: "gone.bin", problem: "content missing", times: 4 });

  const { stdout } = await run(
    "npm",
    ["run", "--silent", "fsck", "--", "--database-url", db.url, "--database-schema", db.schema, "--blob-dir", dir],
    { cwd: root },
  ).catch((err: { stdout: string }) => err);
  expect(stdout).toMatch(/problem {2}missing-blob .*damaged\/gone\.bin/);
  expect(stdout).toMatch(/note {5}reported-fault .*a server found file damaged\/gone\.bin's content missing \(4 times/);
}, 60_000);

test("content cut short: 500 naming how much is there, never a 200 with a short body", async () => {
  const blob = await stored("short.bin", 50_000);
  await truncate(blob, 20_000);
  const get = await curl(`http://127.0.0.1:${server.port}/v1/files/damaged/short.bin:content`);
  expect(get.status).toBe(500);
  expect(JSON.parse(get.body).message).toMatch(/is damaged on the server \(content has 20000 of 50000 bytes\)/);
});

test("a deleted file is 404, not data loss: its content is rightly gone", async () => {
  await stored("deleted.bin", 10);
  await server.client.deleteFile({ bucket: "damaged", key: "deleted.bin" });
  expect((await curl(`http://127.0.0.1:${server.port}/v1/files/damaged/deleted.bin:content`)).status).toBe(404);
});
