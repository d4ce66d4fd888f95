/**
 * `npm start` with the embedded Postgres, driven the way a user drives it from a terminal: npm runs
 * in a process group of its own, and Ctrl-C is SIGINT to that whole group. A second `npm start` on
 * the same checkout must fail fast and leave the first alone; Ctrl-C must let the upload in flight
 * finish; a second Ctrl-C must end a stop that waits for a stalled client.
 *
 * npm runs the script with `sh -c`. Where sh is dash (Debian, this machine) the shell stays between
 * npm and the server: the server sees each Ctrl-C once, and npm reports the SIGINT that dash raises
 * again once its child has exited. bash execs the command instead, so the server is npm's own
 * child: it sees each press twice (from the terminal and forwarded by npm), and npm exits with the
 * server's exit code. The Ctrl-C cases run with bash (npm's `script-shell` setting): the harder
 * case, and the exit codes seen are the server's own.
 */
import { createServer } from "node:net";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Client } from "@connectrpc/connect";
import type { FilesService } from "../../gen/files/v1/files_pb.js";
import { freePort } from "../support/free-port.js";
import {
  isRunning,
  listening,
  npmStart,
  parentPid,
  postmasterPid,
  stopEverything,
  within,
  type NpmStart,
} from "../support/npm-start.js";
import { chunks, content, download, eventually, partialBytes, sha256, uploadFile } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;
// A graceful stop with nothing in flight: the server closes, the pool ends, Postgres checkpoints.
const promptStopMs = 5_000;
// From npm start to the exit of one that is refused before Postgres would start: npm, tsx, the checks.
const fastFailureMs = 10_000;

let dir: string;
let pgDir: string;
let blobDir: string;
let env: Record<string, string>;
let bashEnv: Record<string, string>;
const starts: NpmStart[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "files-npm-start-"));
  await chmod(dir, 0o755); // as root, the embedded Postgres runs as user "postgres" and must enter it
  pgDir = path.join(dir, "pg");
  blobDir = path.join(dir, "blobs");
  env = {
    DATABASE_URL: "",
    EMBEDDED_POSTGRES_DIR: pgDir,
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    BLOB_DIR: blobDir,
  };
  bashEnv = { ...env, npm_config_script_shell: "bash" };
});
afterEach(async () => {
  await stopEverything(starts.splice(0), pgDir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function start(settings = env): NpmStart {
  const started = npmStart(settings);
  starts.push(started);
  return started;
}

/** The time `promise` takes to settle, with its value; fails after `timeoutMs`. */
async function timed<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<{ value: T; ms: number }> {
  const began = Date.now();
  const value = await within(promise, timeoutMs, what);
  return { value, ms: Date.now() - began };
}

/**
 * Starts an upload of `data` that sends `headBytes` and then waits for `release` before it sends
 * the rest; `headArrived` resolves once the server has written the head to the session's partial
 * content.
 */
async function heldUpload(
  client: Client<typeof FilesService>,
  key: string,
  data: Buffer,
  headBytes: number,
  release: Promise<void>,
  signal?: AbortSignal,
) {
  const { session } = await client.createUploadSession({ bucket: "ctrl-c", key, size: BigInt(data.length) });
  const id = session!.id;
  async function* headThenRest() {
    yield* chunks(id, data.subarray(0, headBytes), 256 * KiB);
    await release;
    yield* chunks("", data.subarray(headBytes), 256 * KiB);
  }
  const response = client.uploadContent(headThenRest(), { signal });
  response.catch(() => {}); // awaited, or meant to fail, by the caller
  const headArrived = eventually(
    async () => (await partialBytes(blobDir, id)) === headBytes,
    20_000,
    "the head of the upload is on disk",
  );
  return { response, headArrived };
}

test("a second npm start on the same data dir fails fast naming the server that holds it, and the first keeps serving", async () => {
  const first = await listening(start());
  const postmaster = (await postmasterPid(pgDir))!;
  expect(isRunning(postmaster)).toBe(true);

  const second = start();
  const { value: code, ms } = await timed(second.exited, 30_000, "the second npm start's exit");
  expect(code).not.toBe(0);
  const refusal = second.log
    .map((line) => /"message":"could not start"/.test(line) && (JSON.parse(line) as { error: string }).error)
    .find(Boolean);
  // The server that holds the data dir is the one that started its postmaster.
  expect(refusal).toContain(`${pgDir} is in use by another server (pid ${parentPid(postmaster)})`);
  expect(refusal).toMatch(
    /Stop that server, or give this server its own EMBEDDED_POSTGRES_DIR and EMBEDDED_POSTGRES_PORT .*, or set DATABASE_URL/,
  );
  expect(ms).toBeLessThan(fastFailureMs);

  // The first server's database is untouched: same postmaster, and it serves writes and reads.
  expect(await postmasterPid(pgDir)).toBe(postmaster);
  expect(isRunning(postmaster)).toBe(true);
  const data = content(300 * KiB);
  const uploaded = await uploadFile(first.client, "two-starts", "after-the-second.bin", data);
  expect(uploaded.file?.sha256).toBe(sha256(data));
  expect(sha256((await download(first.client, "two-starts", "after-the-second.bin")).data)).toBe(sha256(data));

  // `kill <server pid>`, as a process manager would stop it: gracefully, and promptly.
  process.kill(parentPid(postmaster)!, "SIGTERM");
  const stopped = await timed(first.exited, 20_000, "the first server's exit after SIGTERM");
  expect(stopped.value).toBe(0);
  expect(stopped.ms).toBeLessThan(promptStopMs);
  expect(first.log.join("\n")).toMatch(/"message":"stopped"/);
  expect(isRunning(postmaster)).toBe(false);
}, 120_000);

test("a start on a taken HTTP port fails before it starts the embedded Postgres, naming the port", async () => {
  const blocker = createServer().listen(0, "127.0.0.1");
  await new Promise((r) => blocker.once("listening", r));
  const port = (blocker.address() as { port: number }).port;
  const otherPgDir = path.join(dir, "pg-unused");
  try {
    const refused = start({ ...env, PORT: String(port), EMBEDDED_POSTGRES_DIR: otherPgDir });
    const { value: code, ms } = await timed(refused.exited, 60_000, "the refused npm start's exit");
    expect(code).not.toBe(0);
    expect(refused.log.join("\n")).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(ms).toBeLessThan(fastFailureMs);
    expect(existsSync(otherPgDir)).toBe(false); // no Postgres was started (or initialised) for nothing
  } finally {
    await new Promise((r) => blocker.close(r));
  }
}, 90_000);

test("Ctrl-C lets the upload in flight finish, exits 0 and keeps the file", async () => {
  const server = await listening(start(bashEnv));
  const data = content(3 * MiB);
  let sendTheRest!: () => void;
  const upload = await heldUpload(
    server.client,
    "ctrl-c.bin",
    data,
    1 * MiB,
    new Promise<void>((r) => (sendTheRest = r)),
  );
  await upload.headArrived;

  server.interrupt();
  const interrupted = Date.now();
  await server.logLine(/"message":"shutting down"/, 10_000);
  sendTheRest();
  const response = await within(upload.response, 20_000, "the upload's answer after Ctrl-C");
  expect(response.file?.sha256).toBe(sha256(data));

  expect(await within(server.exited, 20_000, "the exit after Ctrl-C")).toBe(0);
  expect(Date.now() - interrupted).toBeLessThan(promptStopMs);
  expect(server.log.join("\n")).toMatch(/"message":"stopped"/);
  expect(server.log.join("\n")).not.toMatch(/forced/); // one press, though it reached the server twice

  const restarted = await listening(start());
  expect(sha256((await download(restarted.client, "ctrl-c", "ctrl-c.bin")).data)).toBe(sha256(data));
}, 120_000);

test("a second Ctrl-C a while after the first forces the exit, and stops the embedded Postgres", async () => {
  const server = await listening(start(bashEnv));
  const postmaster = (await postmasterPid(pgDir))!;
  const abandon = new AbortController();
  const stalled = await heldUpload(
    server.client,
    "stalled.bin",
    content(2 * MiB),
    1 * MiB,
    new Promise<void>(() => {}),
    abandon.signal,
  );
  await stalled.headArrived;

  server.interrupt();
  await server.logLine(/"message":"shutting down"/, 10_000);
  // The stalled upload holds the stop for its 30 s grace period. A press within a second of the
  // first is the same press arriving twice (terminal and npm); this one is a second press.
  await new Promise((r) => setTimeout(r, 1_200));
  expect(server.child.exitCode).toBeNull();
  server.interrupt();
  const forced = await timed(server.exited, 10_000, "the forced exit after a second Ctrl-C");
  abandon.abort();
  expect(forced.value).toBe(130); // 128 + SIGINT, as a shell reports a job ended by Ctrl-C
  expect(forced.ms).toBeLessThan(promptStopMs);
  expect(server.log.join("\n")).toMatch(/"message":"[^"]*forced/);

  await eventually(() => !isRunning(postmaster), 10_000, "the embedded Postgres has stopped");
  const next = await listening(start());
  const data = content(100 * KiB);
  expect((await uploadFile(next.client, "ctrl-c", "after-forced.bin", data)).file?.sha256).toBe(sha256(data));
}, 120_000);
