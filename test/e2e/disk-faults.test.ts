/**
 * Disk faults for real: the service runs on a real blob directory behind a wrapper that makes
 * writes, fsyncs, truncates, links, opens and reads fail with ENOSPC or EIO on demand. Whatever
 * fails, the client gets the right code and a message without paths, the committed offset never
 * passes what was fsynced, nothing half-written becomes visible, and once the disk is healthy the
 * upload resumes from its committed offset and completes with the right sha256.
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { countPendingRemovals } from "../../src/store/postgres/content-removals.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import { failureOf } from "../support/connect-errors.js";
import {
  createFaultyBlobStore,
  type FaultCode,
  type FaultOp,
  type FaultyBlobStore,
} from "../support/faulty-blob-store.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";
import { chunks, content, download, sha256, uploadFile } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let t: TestApp;
let disk: FaultyBlobStore;
beforeAll(async () => {
  // 64 KiB checkpoints: every upload here fsyncs and commits several times.
  t = await startTestApp({ "checkpoint-bytes": "64KiB", "shutdown-grace-seconds": "1" }, async (config) => {
    disk = createFaultyBlobStore(await createDirectoryBlobStore(config.blobDir), config.blobDir);
    return { blobs: disk.store };
  });
});
afterEach(() => disk.clear());
afterAll(() => t?.close());

/** What each fault must look like to a client. */
const expected: Record<FaultCode, { code: Code; message: RegExp }> = {
  ENOSPC: { code: Code.ResourceExhausted, message: /^storage is full; nothing past the committed offset was kept$/ },
  EIO: { code: Code.Unavailable, message: /^content storage unavailable; nothing past the committed offset was kept$/ },
};

/** The error is the one a disk fault of `code` maps to, and it names no file. */
function expectDiskError(err: ConnectError, code: FaultCode): void {
  expect(Code[err.code]).toBe(Code[expected[code].code]);
  expect(err.rawMessage).toMatch(expected[code].message);
  expect(err.message).not.toContain(t.blobDir);
  expect(err.message).not.toMatch(/partial|blobs\/|\/tmp|link|fdatasync/);
}

describe.each(transportNames)("over %s", (transport) => {
  const bucket = transport.startsWith("grpc") ? "grpc-faults" : "connect-faults";
  const files = () => t.client(transport);

  /** Opens a session for `data` at `key` (promising its sha256 when `promise` is set); answers its id. */
  async function openSession(key: string, data: Buffer, promise = true): Promise<string> {
    const { session } = await files().createUploadSession({
      bucket,
      key,
      size: BigInt(data.length),
      sha256: promise ? sha256(data) : "",
    });
    return session!.id;
  }

  async function offsetOf(id: string): Promise<number> {
    return Number((await files().getUploadSession({ uploadId: id })).session!.offset);
  }

  async function expectInvisible(key: string): Promise<void> {
    expect(Code[(await failureOf(files().getFile({ bucket, key }))).code]).toBe(Code[Code.NotFound]);
    expect((await files().listFiles({ bucket, prefix: key })).data).toEqual([]);
  }

  /** Resumes from the committed offset on a healthy disk; the file must come out whole. */
  async function resumeAndVerify(id: string, key: string, data: Buffer): Promise<void> {
    const offset = await offsetOf(id);
    const res = await files().uploadContent(chunks(id, data.subarray(offset), 48 * KiB, offset));
    expect(res.file).toMatchObject({ bytes: BigInt(data.length), sha256: sha256(data) });
    expect(sha256((await download(files(), bucket, key)).data)).toBe(sha256(data));
  }

  test.each<[FaultOp, FaultCode, "before" | "after" | "partial"]>([
    ["write", "ENOSPC", "partial"], // a torn write: half the chunk lands, then the disk is full
    ["write", "EIO", "before"],
    ["sync", "EIO", "after"], // fsync reports an error: what it covered can no longer be trusted
    ["sync", "ENOSPC", "before"],
  ])(
    "%s fails with %s (%s) mid-upload: the offset stays at the last good fsync, then the upload resumes",
    async (op, code, stage) => {
      const key = `mid/${op}-${code}.bin`;
      const data = content(MiB + 123);
      const id = await openSession(key, data);
      disk.inject({ op, code, stage, skip: 4 });

      expectDiskError(await failureOf(files().uploadContent(chunks(id, data, 32 * KiB))), code);
      const offset = await offsetOf(id);
      expect(offset).toBeGreaterThan(0); // the checkpoints before the fault held
      expect(offset).toBeLessThan(data.length);
      expect(offset).toBeLessThanOrEqual(disk.durableOffset(id));
      await expectInvisible(key);

      // Still failing: a retry fails the same way and keeps the offset.
      expectDiskError(
        await failureOf(files().uploadContent(chunks(id, data.subarray(offset), 32 * KiB, offset))),
        code,
      );
      expect(await offsetOf(id)).toBe(offset);

      disk.clear();
      await resumeAndVerify(id, key, data);
    },
  );

  test("the running hash cannot be rebuilt (read fails): unavailable, and the upload resumes afterwards", async () => {
    const key = "rehash.bin";
    const data = content(3 * MiB);
    const id = await openSession(key, data, false);
    // A failed fsync drops the in-memory hash: the next request must rehash the committed prefix.
    disk.inject({ op: "sync", code: "EIO", skip: 20, times: 1 });
    expectDiskError(await failureOf(files().uploadContent(chunks(id, data, 64 * KiB))), "EIO");
    const offset = await offsetOf(id);
    expect(offset).toBeGreaterThan(MiB); // rehashing reads it in several chunks
    disk.inject({ op: "readPartial", code: "EIO", stage: "partial" });
    expectDiskError(await failureOf(files().uploadContent(chunks(id, data.subarray(offset), 64 * KiB, offset))), "EIO");
    expect(await offsetOf(id)).toBe(offset);
    disk.clear();
    await resumeAndVerify(id, key, data);
  });

  test("the partial content cannot be opened (ENOSPC): resource_exhausted at offset 0, then it works", async () => {
    const key = "open.bin";
    const data = content(100 * KiB);
    const id = await openSession(key, data);
    disk.inject({ op: "openAppend", code: "ENOSPC", times: 1 });
    expectDiskError(await failureOf(files().uploadContent(chunks(id, data))), "ENOSPC");
    expect(await offsetOf(id)).toBe(0);
    await expectInvisible(key);
    await resumeAndVerify(id, key, data);
  });

  test.each<[FaultCode, "before" | "after"]>([
    ["ENOSPC", "before"],
    ["EIO", "after"], // linked, but the directory fsync failed: the blob may or may not survive
  ])(
    "completion cannot make the content a blob (%s, %s): the file stays invisible, a retry completes it",
    async (code, stage) => {
      const key = `complete-${code}.bin`;
      const data = content(200 * KiB);
      const id = await openSession(key, data);
      disk.inject({ op: "commit", code, stage, times: 1 });
      expectDiskError(await failureOf(files().uploadContent(chunks(id, data))), code);
      expect(await offsetOf(id)).toBe(data.length); // all of it is committed; only completion is left
      await expectInvisible(key);

      const res = await files().uploadContent(chunks(id, Buffer.alloc(0), undefined, data.length));
      expect(res.file).toMatchObject({ bytes: BigInt(data.length), sha256: sha256(data) });
      expect(sha256((await download(files(), bucket, key)).data)).toBe(sha256(data));
      expect(await readdir(path.join(t.blobDir, "blobs", id.slice(0, 2)))).toContain(id);
    },
  );

  test("a refused request whose bytes cannot be cut off (truncate fails) is still refused whole", async () => {
    const key = "refused.bin";
    const data = content(300 * KiB);
    const size = 200 * KiB;
    const { session } = await files().createUploadSession({ bucket, key, size: BigInt(size) });
    const id = session!.id;
    disk.inject({ op: "truncate", code: "EIO" });
    // Checkpoints commit 100 and 200 KiB before the overflow is seen; all of it must be taken back.
    const err = await failureOf(files().uploadContent(chunks(id, data, 50 * KiB)));
    expect(Code[err.code]).toBe(Code[Code.OutOfRange]);
    expect(err.rawMessage).toMatch(/nothing of this request was kept: the committed offset is 0/);
    expect(await offsetOf(id)).toBe(0);
    await expectInvisible(key);
    disk.clear();
    await resumeAndVerify(id, key, data.subarray(0, size));
  });

  test("a download whose read fails midway ends with unavailable, and the next download is whole", async () => {
    const key = "read.bin";
    const data = content(3 * MiB);
    await uploadFile(files(), bucket, key, data);
    disk.inject({ op: "read", code: "EIO", stage: "partial", times: 1 });
    expectDiskError(await failureOf(download(files(), bucket, key)), "EIO");
    expect(sha256((await download(files(), bucket, key)).data)).toBe(sha256(data));
  });
});

test("after every fault above, a sweep finds only content rows refer to", async () => {
  await t.app.sweeper.sweep();
  const rows = await t.db.sql<{ blobId: string }[]>`select blob_id from files`;
  const blobs: string[] = [];
  for await (const id of t.app.blobs.listBlobs()) blobs.push(id);
  expect(blobs.sort()).toEqual(rows.map((r) => r.blobId).sort());
  // Completed sessions stay (for clients whose answer was lost), without partial content.
  const sessions = await t.db.sql<{ id: string }[]>`select id from upload_sessions where completed_at is null`;
  const partials: string[] = [];
  for await (const id of t.app.blobs.listPartials()) partials.push(id);
  expect(partials.sort()).toEqual(sessions.map((s) => s.id).sort());
  expect(await countPendingRemovals(t.db.sql)).toBe(0);
  expect(disk.hits).toBeGreaterThanOrEqual(20);
});
