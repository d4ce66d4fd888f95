/**
 * SIGKILL at random points, for real: 30 concurrent uploads of random sizes (a third with a
 * promised sha256, five replacing existing files) run against a server process that is killed
 * six times and restarted each time: from outside at random moments, and from inside at chosen
 * points (halfway through a chunk, between an fsync and its commit, during completion). Meanwhile
 * every file that is visible must be whole. At the end every upload has resumed from its committed
 * offset and completed with the right content, and after a sweep the consistency check finds
 * nothing wrong and no content without a row.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { randomInt } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHashCache } from "../../src/files/content-hash.js";
import { startSweeper } from "../../src/files/sweeper.js";
import { checkConsistency } from "../../src/fsck/consistency.js";
import { createLogger } from "../../src/log.js";
import { countPendingRemovals } from "../../src/store/postgres/content-removals.js";
import { openContentStore } from "../../src/store/blobs/content-store.js";
import { createSessionLocks } from "../../src/store/postgres/session-locks.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { testS3Location } from "../support/test-app-s3.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { content, download, sha256, uploadFile } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const bucket = "chaos";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// On S3 (test/e2e/on-s3/): checkpoints of 512 KiB (each one there writes a tail of its own below
// a part), and the long uploads past one part of 5 MiB, so that parts and tails both meet kills.
const onS3 = process.env.TEST_BLOB_STORE === "s3";
const longUpload = onS3 ? 6 * MiB : 2.5 * MiB;

let db: TestDatabase;
let blobDir: string;
let s3: { url: string; dispose(): Promise<void> } | undefined;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  blobDir = await mkdtemp(path.join(tmpdir(), "files-chaos-"));
  if (onS3) s3 = await testS3Location();
});
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  await db?.drop();
  await rm(blobDir, { recursive: true, force: true });
  await s3?.dispose();
});

/** One upload the test drives to completion, whatever happens to the server. */
interface Upload {
  key: string;
  data: Buffer;
  sha256: string;
  id: string;
  /** Committed offsets seen, in order: they must never go back. */
  offsets: number[];
  phase: "waiting" | "sending" | "finishing" | "done";
}

/** What a visible file may be: the upload's content, or the version it replaces. */
const acceptable = new Map<string, { bytes: number; sha256: string }[]>();
const errorCodes = new Map<string, number>();
/** Set when the test ends, passed or failed: every loop it started stops. */
const stop = { done: false };
let current: ServerProcess;

async function start(crashPoint = ""): Promise<ServerProcess> {
  const env = {
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: blobDir,
    CHECKPOINT_BYTES: onS3 ? "512KiB" : "64KiB",
    ...(s3 ? { BLOB_STORE: s3.url, S3_PART_SIZE: "5MiB" } : {}),
    SHUTDOWN_GRACE_SECONDS: "1",
    CRASH_POINT: crashPoint,
  };
  const server = await startServerProcess(env, "test/support/crash-server.ts");
  servers.push(server);
  current = server;
  return server;
}

/** Per server process: uploads whose stream its death cut, while sending and while completing. */
const cuts = new Map<ServerProcess, { sending: number; completing: number }>();

/** Counts a failed call; fails the test on codes that no crash may cause. */
function expectRetryable(err: unknown): void {
  const code = err instanceof ConnectError ? Code[err.code] : String(err);
  errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
  if (
    err instanceof ConnectError &&
    [Code.DataLoss, Code.InvalidArgument, Code.OutOfRange, Code.FailedPrecondition].includes(err.code)
  ) {
    throw new Error(`a crash caused ${err.message}`);
  }
}

/** The rest of an upload from `offset`: 32 KiB messages at a pace that keeps it running for seconds. */
async function* paced(u: Upload, offset: number) {
  if (offset === u.data.length) yield { uploadId: u.id, offset: BigInt(offset) };
  for (let at = offset; at < u.data.length; at += 32 * KiB) {
    yield {
      uploadId: at === offset ? u.id : "",
      offset: at === offset ? BigInt(at) : undefined,
      data: u.data.subarray(at, at + 32 * KiB),
    };
    if (at + 32 * KiB >= u.data.length) u.phase = "finishing";
    else await sleep(randomInt(40, 120));
  }
}

/** Resumes `u` from its committed offset until it completes, through every crash. */
async function drive(u: Upload): Promise<void> {
  for (let attempt = 0; attempt < 200 && !stop.done; attempt++) {
    const server = current;
    const files = server.client;
    try {
      const state = await files.getUploadSession({ uploadId: u.id }).catch((err: unknown) => {
        if (err instanceof ConnectError && err.code === Code.NotFound) return undefined; // completed, answer lost
        throw err;
      });
      if (!state) break;
      const offset = Number(state.session!.offset);
      u.offsets.push(offset);
      u.phase = "sending";
      const res = await files.uploadContent(paced(u, offset));
      if (res.file) break;
    } catch (err) {
      expectRetryable(err);
      if (u.phase !== "waiting") {
        const cut = cuts.get(server) ?? { sending: 0, completing: 0 };
        cut[u.phase === "finishing" ? "completing" : "sending"]++;
        cuts.set(server, cut);
      }
      u.phase = "waiting";
      await sleep(randomInt(100, 300));
    }
  }
  // The check itself may meet a crash (another upload's crash point, or a kill): ask again.
  for (let attempt = 0; ; attempt++) {
    try {
      const { file } = await current.client.getFile({ bucket, key: u.key });
      expect([u.key, file?.bytes, file?.sha256]).toEqual([u.key, BigInt(u.data.length), u.sha256]);
      break;
    } catch (err) {
      if (!(err instanceof ConnectError) || err.code === Code.NotFound || attempt >= 50 || stop.done) throw err;
      expectRetryable(err);
      await sleep(200);
    }
  }
  u.phase = "done";
}

/** Any file visible at any moment must be a whole version: listed and downloaded. */
async function watchVisibleFiles(
  stop: { done: boolean },
  seen: { listings: number; downloads: number },
): Promise<void> {
  while (!stop.done) {
    try {
      const { data } = await current.client.listFiles({ bucket, pageSize: 1000 });
      seen.listings++;
      for (const f of data) expect(acceptable.get(f.key)).toContainEqual({ bytes: Number(f.bytes), sha256: f.sha256 });
      const pick = data[randomInt(0, Math.max(1, data.length))];
      if (pick) {
        const got = await download(current.client, bucket, pick.key);
        expect(acceptable.get(pick.key)).toContainEqual({ bytes: got.data.length, sha256: sha256(got.data) });
        seen.downloads++;
      }
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err; // an expectation failed
    }
    await sleep(150);
  }
}

test("30 uploads survive six SIGKILLs at random points; nothing half-written is ever visible", async () => {
  const started = Date.now();
  await start();
  const uploads: Upload[] = [];
  for (let i = 0; i < 30; i++) {
    // Edge sizes, four long ones that are still running at the last kill, the rest at random.
    const data = content(i < 3 ? [0, 1, 64 * KiB][i] : i < 7 ? longUpload : randomInt(1, 2.5 * MiB));
    const key = `f/${i}.bin`;
    acceptable.set(key, [{ bytes: data.length, sha256: sha256(data) }]);
    if (i >= 25) {
      // Five uploads replace a file: until they complete, the old version must be what is seen.
      const old = content(randomInt(1, 300 * KiB));
      await uploadFile(current.client, bucket, key, old);
      acceptable.get(key)!.push({ bytes: old.length, sha256: sha256(old) });
    }
    const promised = i % 3 === 0 ? sha256(data) : "";
    const { session } = await current.client.createUploadSession({
      bucket,
      key,
      size: BigInt(data.length),
      sha256: promised,
    });
    uploads.push({ key, data, sha256: sha256(data), id: session!.id, offsets: [], phase: "waiting" });
  }

  const seen = { listings: 0, downloads: 0 };
  const watcher = watchVisibleFiles(stop, seen);
  const drivers = Promise.all(uploads.map(drive));
  // Awaited after the kills; a failure before then must not count as unhandled.
  for (const p of [watcher, drivers]) p.catch(() => undefined);

  // Two kills from outside at random moments, four from inside at chosen points, in random order.
  const crashPoints = [
    `write:partial:${randomInt(10, 60)}`,
    `sync:after:${randomInt(10, 40)}`,
    `commit:after:${randomInt(0, 2)}`,
    `discardPartial:before:${randomInt(0, 2)}`,
  ];
  const points = ["", ...crashPoints];
  for (let i = points.length - 1; i > 0; i--) {
    const j = randomInt(0, i + 1);
    [points[i], points[j]] = [points[j], points[i]];
  }
  const kills: { server: ServerProcess; point: string }[] = [];
  try {
    for (const point of ["", ...points]) {
      const server = current;
      if (server.child.exitCode === null && server.child.signalCode === null) {
        // Wait for its crash point; an outside kill at a random moment otherwise.
        const reached = await Promise.race([
          server.exited.then(() => true),
          sleep(point ? 6000 : randomInt(500, 1500)).then(() => false),
        ]);
        if (!reached) server.child.kill("SIGKILL");
      }
      expect(await server.exited).toBe("SIGKILL");
      await Promise.race([once(server.child.stderr!, "close"), sleep(2000)]); // its last log line
      kills.push({ server, point: server.log.some((l) => l.includes("crash point reached")) ? point : "outside" });
      if (uploads.every((u) => u.phase === "done")) break;
      await start(kills.length < 6 ? points[kills.length - 1] : "");
    }
    if (current.child.exitCode !== null || current.child.signalCode !== null) await start();
    await drivers;
  } finally {
    // Also when the test fails: the loops would otherwise keep jest from exiting.
    stop.done = true;
  }
  await watcher;

  // Every upload resumed from what was committed: offsets seen never went back.
  for (const u of uploads) expect([u.key, u.offsets]).toEqual([u.key, [...u.offsets].sort((a, b) => a - b)]);
  for (const u of uploads) expect(sha256((await download(current.client, bucket, u.key)).data)).toBe(u.sha256);
  current.child.kill("SIGTERM");
  expect(await current.exited).toBe(0);

  // Crashes leave content waiting for removal (a partial after completion, content of a replaced
  // file), recorded by the commit that let go of it: never damage, and never an orphan.
  const blobs = await openContentStore({
    blobStore: s3?.url ?? "dir",
    blobDir,
    s3PartSize: 5 * MiB,
    s3ForcePathStyle: "true",
  });
  const locks = createSessionLocks(db.url, db.schema);
  try {
    const deps = { sql: db.sql, blobs, locks };
    const before = await checkConsistency(deps);
    expect(before.findings.filter((f) => f.kind !== "pending-removal")).toEqual([]);
    const sweep = await startSweeper(
      { ...deps, hashes: createHashCache(), log: createLogger({ silent: true }) },
      0,
    ).sweep();
    expect(sweep.removedContent).toBeGreaterThanOrEqual(before.findings.length);
    expect(await countPendingRemovals(db.sql)).toBe(0);
    const after = await checkConsistency(deps);
    expect(after.findings).toEqual([]);
    expect(after.checked).toMatchObject({ files: 30, blobs: 30, sessions: 0, partials: 0 });

    const resumed = uploads.filter((u) => u.offsets.some((o) => o > 0 && o < u.data.length)).length;
    process.stdout.write(
      `sigkill-chaos: ${kills.length} kills ${JSON.stringify(kills.map((k) => ({ point: k.point, ...cuts.get(k.server) })))}; ${uploads.length} uploads verified, ${resumed} resumed mid-way; ` +
        `${seen.listings} listings and ${seen.downloads} downloads checked while running; swept ${JSON.stringify(sweep)}; ` +
        `client errors ${JSON.stringify(Object.fromEntries(errorCodes))}; ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    expect(kills.length).toBe(6);
    expect(resumed).toBeGreaterThan(0);
    expect(seen.listings).toBeGreaterThan(0);
    expect(seen.downloads).toBeGreaterThan(0);
    expect(
      kills
        .map((k) => k.point)
        .filter((p) => p !== "outside")
        .sort(),
    ).toEqual([...crashPoints].sort());
  } finally {
    await locks.close();
  }
}, 240_000);
