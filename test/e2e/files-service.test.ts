/**
 * End to end: the real server on a free port, driven by generated clients over gRPC (HTTP/2) and
 * the Connect protocol (HTTP/1.1). Every behaviour is checked on both transports.
 */
import { Code } from "@connectrpc/connect";
import { sweepLockId } from "../../src/files/sweeper.js";
import { countPendingRemovals } from "../../src/store/postgres/content-removals.js";
import { createSessionLocks } from "../../src/store/postgres/session-locks.js";
import { openContentStore } from "../../src/store/blobs/content-store.js";
import { failureOf } from "../support/connect-errors.js";
import { sessionLockHolder } from "../support/database.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";
import { chunks, content, download, eventually, sha256, uploadFile } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let t: TestApp;
beforeAll(async () => {
  // Small checkpoints, so that commits happen within the small test uploads too.
  t = await startTestApp({ "checkpoint-bytes": "64KiB" });
});
afterAll(() => t?.close());

const blobFiles = () => t.blobIds();
const partialFiles = () => t.partialIds();

function rejectsWith(code: Code, message?: RegExp) {
  return async (promise: Promise<unknown>) => {
    const err = await failureOf(promise);
    expect(Code[err.code]).toBe(Code[code]);
    if (message) expect(err.rawMessage).toMatch(message);
  };
}

describe.each(transportNames)("over %s", (transport) => {
  const bucket = transport.startsWith("grpc") ? "grpc-bucket" : "connect-bucket";
  const files = () => t.client(transport);

  test.each([0, 1, MiB + 1, 20 * MiB])("uploads %i bytes in chunks and downloads the same bytes", async (size) => {
    const data = content(size);
    const res = await uploadFile(files(), bucket, `sizes/${size}.bin`, data, {
      sha256: sha256(data),
      chunkSize: 256 * KiB + 7,
    });
    expect(res.file).toMatchObject({ bucket, key: `sizes/${size}.bin`, bytes: BigInt(size), sha256: sha256(data) });
    expect(res.session?.offset).toBe(BigInt(size));
    expect(res.file!.url).toBe(`${t.baseUrl}/v1/files/${bucket}/sizes/${size}.bin:content`);
    const got = await download(files(), bucket, `sizes/${size}.bin`);
    expect(got.info?.sha256).toBe(sha256(data));
    expect(sha256(got.data)).toBe(sha256(data));
  });

  test("a session answers its fields and absolute url", async () => {
    const { session } = await files().createUploadSession({ bucket, key: "s.txt", mimeType: "text/plain", size: 3n });
    expect(session).toMatchObject({ offset: 0n, size: 3n, bucket, key: "s.txt", mimeType: "text/plain" });
    expect(session!.url).toBe(`${t.baseUrl}/v1/files/session:${session!.id}`);
    expect(Number(session!.expiresAt)).toBeGreaterThan(Date.now() / 1000);
    const read = await files().getUploadSession({ uploadId: session!.id });
    expect(read.session?.offset).toBe(0n);
  });

  test("an upload resumes from the committed offset after the client aborts mid-stream", async () => {
    const data = content(200 * KiB);
    const { session } = await files().createUploadSession({
      bucket,
      key: "resume.bin",
      size: BigInt(data.length),
      sha256: sha256(data),
    });
    const id = session!.id;
    const abort = new AbortController();
    // Send 100 KiB in 10 KiB messages, then hang until aborted.
    async function* firstHalf() {
      yield* chunks(id, data.subarray(0, 100 * KiB), 10 * KiB);
      await new Promise((resolve) => abort.signal.addEventListener("abort", resolve));
    }
    const call = files().uploadContent(firstHalf(), { signal: abort.signal });
    await eventually(async () => (await files().getUploadSession({ uploadId: id })).session!.offset >= 64n * 1024n);
    // Let the rest of the 100 KiB arrive (the server writes each message as it comes).
    await eventually(async () => (await t.storedBytes(id)) === 100 * KiB);
    abort.abort();
    await rejectsWith(Code.Canceled)(call);
    // The server commits what arrived when the stream breaks: all 100 KiB, not only the last checkpoint.
    await eventually(async () => (await files().getUploadSession({ uploadId: id })).session!.offset === 100n * 1024n);
    // The file is not visible while incomplete.
    await rejectsWith(Code.NotFound)(files().getFile({ bucket, key: "resume.bin" }));
    // The broken request's handler lets go of the session just after it commits.
    await eventually(async () => (await sessionLockHolder(t.db.sql, id)) === undefined);

    const res = await files().uploadContent(chunks(id, data.subarray(100 * KiB), 10 * KiB, 100 * KiB));
    expect(res.file?.sha256).toBe(sha256(data));
    expect(sha256((await download(files(), bucket, "resume.bin")).data)).toBe(sha256(data));
  });

  test("an upload spread over several requests completes on the last one", async () => {
    const data = content(30);
    const { session } = await files().createUploadSession({ bucket, key: "parts.bin", size: 30n });
    const first = await files().uploadContent(chunks(session!.id, data.subarray(0, 10)));
    expect(first.file).toBeUndefined();
    expect(first.session?.offset).toBe(10n);
    await files().uploadContent(chunks(session!.id, data.subarray(10, 20), 4, 10));
    const last = await files().uploadContent(chunks(session!.id, data.subarray(20), 4));
    expect(last.file?.sha256).toBe(sha256(data));
  });

  test("a wrong offset is refused with the committed offset in the message, and nothing is kept", async () => {
    const data = content(20);
    const { session } = await files().createUploadSession({ bucket, key: "offset.bin", size: 20n });
    await files().uploadContent(chunks(session!.id, data.subarray(0, 10)));
    await rejectsWith(
      Code.Aborted,
      /offset 5 .*resume from offset 10/,
    )(files().uploadContent(chunks(session!.id, data.subarray(10), 4, 5)));
    expect((await files().getUploadSession({ uploadId: session!.id })).session?.offset).toBe(10n);
  });

  test("content beyond the declared size refuses the whole request, even past a checkpoint", async () => {
    const data = content(300 * KiB);
    const { session } = await files().createUploadSession({ bucket, key: "over.bin", size: 200n * 1024n });
    // 300 KiB in 50 KiB messages: checkpoints commit 100 and 200 KiB before the overflow is seen.
    await rejectsWith(
      Code.OutOfRange,
      /declared size of 204800 bytes; nothing of this request was kept/,
    )(files().uploadContent(chunks(session!.id, data, 50 * KiB)));
    expect((await files().getUploadSession({ uploadId: session!.id })).session?.offset).toBe(0n);
    // The session still works, from offset 0.
    const res = await files().uploadContent(chunks(session!.id, data.subarray(0, 200 * KiB), 64 * KiB));
    expect(res.file?.sha256).toBe(sha256(data.subarray(0, 200 * KiB)));
  });

  test("a checksum mismatch fails with data_loss and the file never appears", async () => {
    const data = content(1000);
    const { session } = await files().createUploadSession({
      bucket,
      key: "bad-sum.bin",
      size: 1000n,
      sha256: sha256(content(1000)),
    });
    await rejectsWith(Code.DataLoss, /not the promised/)(files().uploadContent(chunks(session!.id, data)));
    await rejectsWith(Code.NotFound)(files().getFile({ bucket, key: "bad-sum.bin" }));
    await rejectsWith(Code.NotFound)(files().getUploadSession({ uploadId: session!.id }));
    expect(await partialFiles()).not.toContain(session!.id);
  });

  test("a second writer on the same session is refused while the first is streaming", async () => {
    const data = content(64);
    const { session } = await files().createUploadSession({ bucket, key: "race.bin", size: 64n });
    const id = session!.id;
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    async function* slowWriter() {
      yield { uploadId: id, data: data.subarray(0, 32) };
      await held;
      yield { data: data.subarray(32) };
    }
    const first = files().uploadContent(slowWriter());
    await eventually(async () => (await sessionLockHolder(t.db.sql, id)) !== undefined); // the first writer holds it
    await rejectsWith(
      Code.Aborted,
      /being written by another request/,
    )(files().uploadContent(chunks(id, data.subarray(32), 32, 32)));
    finish();
    const res = await first;
    expect(res.file?.sha256).toBe(sha256(data));
  });

  test("uploading to an existing key replaces it atomically and removes the old content", async () => {
    const before = await blobFiles();
    const v1 = content(100);
    const v2 = content(150);
    await uploadFile(files(), bucket, "replace/me.txt", v1, { mimeType: "text/plain" });
    const { session } = await files().createUploadSession({
      bucket,
      key: "replace/me.txt",
      mimeType: "text/csv",
      size: 150n,
    });
    await files().uploadContent(chunks(session!.id, v2.subarray(0, 50)));
    // While v2 is incomplete, v1 is what readers see.
    expect((await files().getFile({ bucket, key: "replace/me.txt" })).file?.sha256).toBe(sha256(v1));
    await files().uploadContent(chunks(session!.id, v2.subarray(50), 64, 50));
    const { file } = await files().getFile({ bucket, key: "replace/me.txt" });
    expect(file).toMatchObject({ sha256: sha256(v2), bytes: 150n, mimeType: "text/csv" });
    expect((await download(files(), bucket, "replace/me.txt")).data.equals(v2)).toBe(true);
    await t.app.removalsDone(); // v1's content goes just after the answer
    expect((await blobFiles()).length).toBe(before.length + 1);
  });

  test("download honours offset and limit", async () => {
    const data = content(1000);
    await uploadFile(files(), bucket, "range.bin", data);
    expect((await download(files(), bucket, "range.bin", 100, 50)).data.equals(data.subarray(100, 150))).toBe(true);
    expect((await download(files(), bucket, "range.bin", 900)).data.equals(data.subarray(900))).toBe(true);
    expect((await download(files(), bucket, "range.bin", 990, 100)).data.equals(data.subarray(990))).toBe(true);
    expect((await download(files(), bucket, "range.bin", 1000)).data.length).toBe(0);
    await rejectsWith(Code.OutOfRange)(download(files(), bucket, "range.bin", 1001));
    await rejectsWith(Code.NotFound)(download(files(), bucket, "no-such.bin"));
  });

  test("delete answers the file, removes metadata and content, and a second delete is not_found", async () => {
    const data = content(10);
    await uploadFile(files(), bucket, "gone.bin", data);
    const before = await blobFiles();
    const { file } = await files().deleteFile({ bucket, key: "gone.bin" });
    expect(file?.sha256).toBe(sha256(data));
    await t.app.removalsDone(); // the content goes right after the answer
    expect((await blobFiles()).length).toBe(before.length - 1);
    await rejectsWith(Code.NotFound)(files().getFile({ bucket, key: "gone.bin" }));
    await rejectsWith(Code.NotFound)(files().deleteFile({ bucket, key: "gone.bin" }));
  });

  test("cancel removes the session and its partial content at once", async () => {
    const { session } = await files().createUploadSession({ bucket, key: "cancel.bin", size: 10n });
    await files().uploadContent(chunks(session!.id, content(5)));
    expect(await partialFiles()).toContain(session!.id);
    const cancelled = await files().cancelUploadSession({ uploadId: session!.id });
    expect(cancelled.session?.offset).toBe(5n);
    expect(await partialFiles()).not.toContain(session!.id);
    await rejectsWith(Code.NotFound)(files().getUploadSession({ uploadId: session!.id }));
  });

  test("lists files in key order, a page at a time, stable under inserts", async () => {
    const listBucket = `${bucket}-list`;
    const keys = Array.from({ length: 25 }, (_, i) => `k/${String(i).padStart(2, "0")}`);
    for (const key of keys) await uploadFile(files(), listBucket, key, content(1));
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await files().listFiles({ bucket: listBucket, pageSize: 10, pageToken });
      seen.push(...page.data.map((f) => f.key));
      pageToken = page.nextPageToken;
      if (pages++ === 0) {
        await uploadFile(files(), listBucket, "k/00a", content(1)); // lands before the cursor: not seen
        await uploadFile(files(), listBucket, "k/15a", content(1)); // lands after it: seen once
      }
    } while (pageToken);
    const after = [...keys.slice(0, 16), "k/15a", ...keys.slice(16)];
    expect(pages).toBe(3);
    expect(seen).toEqual(after);
    const prefixed = await files().listFiles({ bucket: listBucket, prefix: "k/1" });
    expect(prefixed.data.map((f) => f.key)).toEqual(after.slice(10, 21));
    const buckets = (await files().listBuckets({})).data.map((b) => b.name);
    expect(buckets).toEqual([...buckets].sort());
    expect(buckets).toEqual(expect.arrayContaining([bucket, listBucket]));
    await rejectsWith(
      Code.InvalidArgument,
      /another listing/,
    )(
      files().listFiles({
        bucket: bucket,
        pageToken: (await files().listFiles({ bucket: listBucket, pageSize: 1 })).nextPageToken,
      }),
    );
  });

  test("bad input gets invalid_argument naming what was wrong", async () => {
    await rejectsWith(
      Code.InvalidArgument,
      /bucket "bad bucket"/,
    )(files().createUploadSession({ bucket: "bad bucket", key: "k", size: 1n }));
    await rejectsWith(
      Code.InvalidArgument,
      /key "a\/\/b"/,
    )(files().createUploadSession({ bucket, key: "a//b", size: 1n }));
    await rejectsWith(Code.InvalidArgument, /size -1/)(files().createUploadSession({ bucket, key: "k", size: -1n }));
    await rejectsWith(Code.InvalidArgument, /upload_id "nope"/)(files().getUploadSession({ uploadId: "nope" }));
    await rejectsWith(Code.NotFound)(files().getUploadSession({ uploadId: "00000000-0000-4000-8000-000000000000" }));
    await rejectsWith(Code.InvalidArgument, /upload_id is required/)(files().uploadContent(chunks("", content(1))));
  });
});

test("sessions expire: not_found at once, partial content swept", async () => {
  const short = await startTestApp({ "session-ttl-seconds": "60" });
  try {
    const files = short.client("grpc (HTTP/2)");
    const { session } = await files.createUploadSession({ bucket: "exp", key: "e.bin", size: 10n });
    await files.uploadContent(chunks(session!.id, content(4)));
    const [{ expiresIn }] = await short.db
      .sql`select extract(epoch from expires_at - now())::int as "expiresIn" from upload_sessions where id = ${session!.id}`;
    expect(expiresIn).toBeGreaterThan(50); // the configured TTL, counted from the last write
    // Let the clock run out without waiting for it.
    await short.db.sql`update upload_sessions set expires_at = now() - interval '1 second' where id = ${session!.id}`;
    await expect(files.getUploadSession({ uploadId: session!.id })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(files.uploadContent(chunks(session!.id, content(6), 6, 4))).rejects.toMatchObject({
      code: Code.NotFound,
    });
    expect(await short.partialIds()).toContain(session!.id);
    const report = await short.app.sweeper.sweep();
    expect(report.expiredSessions).toBe(1);
    expect(await short.partialIds()).not.toContain(session!.id);
  } finally {
    await short.close();
  }
});

test("two servers on one database: the second writer of a session is refused, and takes over once the first loses its lock", async () => {
  // Its own pools and lock connection on the same schema and blob directory: to the database, a
  // second server process. (It also makes a schema and directory of its own, which it never uses.)
  const other = await startTestApp({
    "database-schema": t.db.schema,
    "blob-dir": t.blobDir,
    "blob-store": t.config.blobStore,
    "checkpoint-bytes": "64KiB",
  });
  try {
    const [a, b] = [t.client("grpc (HTTP/2)"), other.client("grpc (HTTP/2)")];
    const data = content(64);
    const id = (await a.createUploadSession({ bucket: "two-servers", key: "x.bin", size: 64n })).session!.id;
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const first = a.uploadContent(
      (async function* () {
        yield { uploadId: id, data: data.subarray(0, 32) };
        await held;
        yield { data: data.subarray(32) };
      })(),
    );
    const holder = await eventually(() => sessionLockHolder(t.db.sql, id));
    await rejectsWith(
      Code.Aborted,
      /being written by another request/,
    )(b.uploadContent(chunks(id, data.subarray(32), 32, 32)));
    expect((await b.getUploadSession({ uploadId: id })).session!.offset).toBe(0n);

    // The first server's lock connection dies (a network cut, an outage): the lock is free.
    await t.db.sql`select pg_terminate_backend(${holder})`;
    await eventually(async () => (await sessionLockHolder(t.db.sql, id)) === undefined);
    const res = await b.uploadContent(chunks(id, data, 16, 0));
    expect(res.file?.sha256).toBe(sha256(data));
    // The first writer may not write or commit any more: it has lost its lock.
    finish();
    const lost = await failureOf(first);
    expect([Code[lost.code], lost.rawMessage, lost.metadata.get("upload-offset")]).toEqual([
      Code[Code.Unavailable],
      expect.stringMatching(/lost the lock/),
      "0",
    ]);
    expect(sha256((await download(a, "two-servers", "x.bin")).data)).toBe(sha256(data));
  } finally {
    await other.close();
  }
});

test("of two servers on one database, one sweeps at a time: the other skips its turn", async () => {
  const other = await startTestApp({
    "database-schema": t.db.schema,
    "blob-store": t.config.blobStore,
    "blob-dir": t.blobDir,
  });
  const locks = createSessionLocks(t.db.url, t.db.schema);
  try {
    const files = t.client("grpc (HTTP/2)");
    const id = (await files.createUploadSession({ bucket: "exp", key: "turns.bin", size: 10n })).session!.id;
    await t.db.sql`update upload_sessions set expires_at = now() - interval '1 second' where id = ${id}`;
    // Another server's sweep holds the turn.
    const turn = await locks.tryAcquire(sweepLockId);
    expect(turn).toBeDefined();
    expect(await other.app.sweeper.sweep()).toEqual({ expiredSessions: 0, removedContent: 0 });
    await turn!.release();
    expect((await other.app.sweeper.sweep()).expiredSessions).toBe(1);
  } finally {
    await locks.close();
    await other.close();
  }
});

test("the periodic sweep removes expired sessions by itself, and skips one that is being written", async () => {
  const swept = await startTestApp({ "sweep-interval-seconds": "1" });
  try {
    const files = swept.client("grpc (HTTP/2)");
    const idle = (await files.createUploadSession({ bucket: "exp", key: "idle.bin", size: 10n })).session!.id;
    await files.uploadContent(chunks(idle, content(4)));
    // A writer holds this one while it expires: the sweep must leave it to the writer.
    const busy = (await files.createUploadSession({ bucket: "exp", key: "busy.bin", size: 10n })).session!.id;
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const writer = files.uploadContent(
      (async function* () {
        yield { uploadId: busy, data: content(4) };
        await held;
      })(),
    );
    await eventually(async () => (await swept.storedBytes(busy)) === 4);
    // Both at once, so the sweep that removes the one has seen the other expired too.
    await swept.db
      .sql`update upload_sessions set expires_at = now() - interval '1 second' where id in ${swept.db.sql([idle, busy])}`;
    await eventually(
      async () => (await swept.storedBytes(idle)) === undefined,
      10_000,
      "the sweep removed the idle session's content",
    );
    expect(await swept.db.sql`select id from upload_sessions where id = ${idle}`).toHaveLength(0);
    expect(await swept.storedBytes(busy)).toBe(4);
    // The writer finds its session expired; the next sweeps take it.
    finish();
    await rejectsWith(Code.NotFound)(writer);
    await eventually(
      async () => (await swept.storedBytes(busy)) === undefined,
      10_000,
      "the sweep removed the busy session's content",
    );
  } finally {
    await swept.close();
  }
});

test("a cancel that lands while the upload completes: the writer answers not_found, and nothing is left behind", async () => {
  let beforeCommit: ((id: string) => Promise<void>) | undefined;
  const racing = await startTestApp({}, async (config) => {
    const inner = await openContentStore(config);
    const commit = async (id: string, length: number) => {
      await beforeCommit?.(id);
      await inner.commit(id, length);
    };
    return { blobs: { ...inner, commit } };
  });
  try {
    const files = racing.client("grpc (HTTP/2)");
    const { session } = await files.createUploadSession({ bucket: "race", key: "cancelled.bin", size: 100n });
    beforeCommit = async (id) => void (await files.cancelUploadSession({ uploadId: id }));
    await rejectsWith(Code.NotFound, /not found/)(files.uploadContent(chunks(session!.id, content(100))));
    expect(await racing.db.sql`select blob_id from files`).toHaveLength(0);
    expect([await racing.app.blobs.partialSize(session!.id), await racing.app.blobs.size(session!.id)]).toEqual([
      undefined,
      undefined,
    ]);
    expect(await countPendingRemovals(racing.db.sql)).toBe(0);
  } finally {
    await racing.close();
  }
});

test("a cancel that lands while a resume opens the content: not_found, not data loss", async () => {
  let beforeOpen: ((id: string, offset: number) => Promise<void>) | undefined;
  const racing = await startTestApp({}, async (config) => {
    const inner = await openContentStore(config);
    const openAppend = async (id: string, offset: number, declaredSize: number) => {
      await beforeOpen?.(id, offset);
      return inner.openAppend(id, offset, declaredSize);
    };
    return { blobs: { ...inner, openAppend } };
  });
  try {
    const files = racing.client("grpc (HTTP/2)");
    const { session } = await files.createUploadSession({ bucket: "race", key: "resumed.bin", size: 100n });
    await files.uploadContent(chunks(session!.id, content(50)));
    beforeOpen = async (id, offset) => {
      if (offset > 0) await files.cancelUploadSession({ uploadId: id });
    };
    await rejectsWith(Code.NotFound, /not found/)(files.uploadContent(chunks(session!.id, content(50))));
  } finally {
    await racing.close();
  }
});
