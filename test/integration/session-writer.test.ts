/**
 * The upload state machine, one transition at a time: a SessionWriter against an in-memory
 * appender (so each disk step can be watched or made to fail) and a real Postgres (so every offset
 * move is the real compare-and-set).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createHash, type Hash, randomUUID } from "node:crypto";
import type { UploadContentRequest } from "../../gen/files/v1/files_pb.js";
import { createHashCache, type HashCache, type RunningSha256 } from "../../src/files/content-hash.js";
import { resumeSha256 } from "../../src/files/resumable-sha256.js";
import { completeFullUpload } from "../../src/files/upload/completion.js";
import { SessionWriter, type WriterLease } from "../../src/files/upload/session-writer.js";
import { createLogger } from "../../src/log.js";
import type { BlobAppender, BlobStore } from "../../src/store/blobs/blob-store.js";
import { claimSession, findSession, insertSession, type SessionRow } from "../../src/store/postgres/upload-sessions.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { content } from "../support/uploads.js";

const KiB = 1024;
let db: TestDatabase;
let hashes: HashCache;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());
beforeEach(() => {
  hashes = createHashCache();
});

/** An appender over a buffer that records each step, and fails a step on demand. */
function memoryAppender(start = 0, checkpointAlignment?: number) {
  const events: string[] = [];
  let data = Buffer.alloc(start);
  const fail: { write?: Error; sync?: Error } = {};
  let position = start;
  const appender: BlobAppender = {
    async write(chunk) {
      const at = position;
      position += chunk.byteLength;
      await new Promise((r) => setImmediate(r)); // in flight for a moment, as a real write is
      if (fail.write) throw fail.write;
      if (data.length < at + chunk.byteLength)
        data = Buffer.concat([data, Buffer.alloc(at + chunk.byteLength - data.length)]);
      data.set(chunk, at);
      events.push(`write ${at}+${chunk.byteLength}`);
    },
    async sync(length) {
      if (fail.sync) throw fail.sync;
      events.push(
        length === undefined || length === data.length ? `sync ${data.length}` : `sync ${length} of ${data.length}`,
      );
    },
    checkpointAlignment,
    async truncate(length) {
      data = data.subarray(0, length);
      position = length;
      events.push(`truncate ${length}`);
    },
    async close() {},
  };
  return { appender, events, fail, data: () => data };
}

/** A fresh native SHA-256 as a running hash (one that cannot save its state, so it is copied). */
function nativeHash(hash: Hash = createHash("sha256")): RunningSha256 {
  return {
    update: (data) => hash.update(data),
    digest: () => hash.digest(),
    save: () => undefined,
    copy: () => nativeHash(hash.copy()),
  };
}

const lease = (): WriterLease & { valid: boolean } => ({ valid: true });
const message = (data: Uint8Array, fields: Partial<UploadContentRequest> = {}) =>
  ({ uploadId: "", data, ...fields }) as UploadContentRequest;

async function newSession(size: number): Promise<SessionRow> {
  const inserted = await insertSession(
    db.sql,
    { id: randomUUID(), bucket: "b", key: "k", mimeType: "x/y", size, expectedSha256: null },
    3600,
    {
      maxOpen: 1e6,
      maxOpenPerOwner: 1e6,
      maxPendingBytesPerOwner: 2 ** 50,
    },
  );
  if (!("row" in inserted)) throw new Error("not inserted");
  return inserted.row;
}

function writerOf(
  session: SessionRow,
  disk = memoryAppender(session.committedOffset),
  held = lease(),
  checkpointBytes = 64 * KiB,
  hash = nativeHash(),
) {
  const deps = {
    sql: db.sql,
    hashes,
    log: createLogger({ silent: true }),
    checkpointBytes,
    sessionTtlSeconds: 3600,
    writeBehindBytes: 256 * KiB,
  };
  return { writer: new SessionWriter(deps, session, disk.appender, hash, held), disk, held };
}

const offsetOf = async (id: string) => (await findSession(db.sql, id))!.committedOffset;
const failure = async (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (err: unknown) => ConnectError.from(err),
  );

test("append, then finish: every byte is fsynced before the offset that counts it is stored", async () => {
  const session = await newSession(100);
  const { writer, disk } = writerOf(session);
  await writer.append(message(content(60)));
  await writer.append(message(content(40)));
  expect(await offsetOf(session.id)).toBe(0); // nothing committed before the request ends (no checkpoint due)
  const committed = await writer.finish();
  expect([writer.state, committed.committedOffset, await offsetOf(session.id)]).toEqual(["finished", 100, 100]);
  expect(disk.events).toEqual(["write 0+60", "write 60+40", "sync 100"]);
});

test("checkpoint: a commit runs while receiving goes on, one at a time, counting only what was written when it began", async () => {
  const session = await newSession(512 * KiB);
  const { writer } = writerOf(session);
  for (let i = 0; i < 4; i++) await writer.append(message(content(64 * KiB)));
  await writer.settled();
  const mid = await offsetOf(session.id);
  expect(mid % (64 * KiB)).toBe(0);
  expect(mid).toBeGreaterThanOrEqual(64 * KiB);
  expect(mid).toBeLessThanOrEqual(256 * KiB);
  await writer.finish();
  expect(await offsetOf(session.id)).toBe(256 * KiB);
});

test("an appender with cheap sync points (an object store's parts) gets its checkpoints there, each with the hash state at that offset", async () => {
  const session = await newSession(1000);
  // Parts of 100 bytes, a checkpoint's worth of 150: checkpoints at 200 and 400, messages cut there.
  const disk = memoryAppender(0, 100);
  const deps = {
    sql: db.sql,
    hashes,
    log: createLogger({ silent: true }),
    checkpointBytes: 150,
    sessionTtlSeconds: 3600,
    writeBehindBytes: 256 * KiB,
  };
  const writer = new SessionWriter(deps, session, disk.appender, await resumeSha256(), lease());
  const data = content(450);
  const offsets: number[] = [];
  for (let at = 0; at < data.length; at += 70) {
    await writer.append(message(data.subarray(at, at + 70)));
    await writer.settled();
    offsets.push(await offsetOf(session.id));
  }
  expect(new Set(offsets)).toEqual(new Set([0, 200, 400]));
  // Each sync asked for exactly the checkpoint's bytes (more may have been written by then).
  const syncs = disk.events.filter((e) => e.startsWith("sync")).map((e) => Number(e.split(" ")[1]));
  expect(syncs).toEqual([200, 400]);
  expect(disk.events).toContain("write 140+60"); // the message across 200, cut there
  // The state saved with 400 hashes exactly the first 400 bytes.
  const saved = (await findSession(db.sql, session.id))!.hashState!;
  const resumed = await resumeSha256(saved);
  resumed.update(data.subarray(400));
  expect(resumed.digest().toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
});

describe.each([
  ["offset mismatch", message(content(10), { offset: 5n }), Code.Aborted],
  ["past the declared size", message(content(200 * KiB)), Code.OutOfRange],
  ["another upload_id", message(content(10), { uploadId: randomUUID() }), Code.InvalidArgument],
])("refuse (%s)", (_name, wrong, code) => {
  test("the request is undone whole: the offset goes back to where it began, its bytes are cut off", async () => {
    const session = await newSession(200 * KiB);
    // A first request committed 10 bytes; this one starts there.
    const first = writerOf(session);
    await first.writer.append(message(content(10)));
    await first.writer.finish();
    const start = await findSession(db.sql, session.id);
    const { writer, disk } = writerOf(start!, memoryAppender(10), lease(), 16 * KiB);
    for (let i = 0; i < 4; i++) await writer.append(message(content(16 * KiB))); // checkpoints commit some of it
    await writer.settled();
    const err = await failure(writer.append(wrong));
    expect([err && Code[err.code], writer.state]).toEqual([Code[code], "refused"]);
    if (code !== Code.InvalidArgument) expect(err!.metadata.get("upload-offset")).toBe("10");
    expect(await offsetOf(session.id)).toBe(10);
    expect(disk.events.at(-1)).toBe("truncate 10");
    expect(disk.data().length).toBe(10);
  });
});

test("interrupt: what arrived is committed, and the running hash kept for the next request", async () => {
  const session = await newSession(100);
  const { writer } = writerOf(session);
  const data = content(30);
  await writer.append(message(data));
  await writer.interrupt();
  expect([writer.state, await offsetOf(session.id)]).toEqual(["interrupted", 30]);
  const cached = await hashes.take(session.id, 30, {} as BlobStore);
  expect(cached.hash.digest().toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
});

test.each(["write", "sync"] as const)(
  "a %s failure: failed, nothing more is committed, the hash is forgotten",
  async (step) => {
    const session = await newSession(100);
    const { writer, disk } = writerOf(session);
    const cachedHash = nativeHash();
    hashes.put(session.id, { hash: cachedHash, offset: 0 });
    disk.fail[step] = Object.assign(new Error("EIO"), { code: "EIO" });
    // A write failure surfaces when the write behind is waited for: at the latest, the commit.
    const err = await failure(writer.append(message(content(10))).then(() => writer.finish()));
    expect(err?.cause ?? err).toMatchObject({ code: "EIO" });
    expect([writer.state, await offsetOf(session.id)]).toEqual(["failed", 0]);
    await expect(writer.append(message(content(1)))).rejects.toThrow(/failed, not receiving/);
    // The cached hash was dropped: the next request gets a fresh one (at offset 0 nothing is reread).
    expect((await hashes.take(session.id, 0, {} as BlobStore)).hash).not.toBe(cachedHash);
  },
);

test("lost lock: nothing more is written or committed, and the client is told the committed offset", async () => {
  const session = await newSession(100);
  const { writer, disk, held } = writerOf(session);
  await writer.append(message(content(10)));
  await writer.settled();
  held.valid = false;
  const err = await failure(writer.append(message(content(10))));
  expect([err && Code[err.code], err?.metadata.get("upload-offset"), writer.state]).toEqual([
    "Unavailable",
    "0",
    "lost-lock",
  ]);
  expect(disk.events).toEqual(["write 0+10"]);
  expect(await offsetOf(session.id)).toBe(0);
});

test("a writer that lost its lock and then refuses its request does not rewind the offset under the new writer", async () => {
  const session = await newSession(100 * KiB);
  const old = writerOf(session, memoryAppender(0), lease(), 16 * KiB);
  for (let i = 0; i < 3; i++) await old.writer.append(message(content(16 * KiB)));
  await old.writer.settled();
  const committed = await offsetOf(session.id);
  expect(committed).toBeGreaterThan(0);
  // The old writer's lock connection dies; a new writer takes the session at `committed`.
  old.held.valid = false;
  const err = await failure(old.writer.append(message(content(10), { offset: 1n })));
  expect(err?.code).toBe(Code.Aborted);
  expect(await offsetOf(session.id)).toBe(committed); // was rewound to 0 before
  expect(old.disk.events.filter((e) => e.startsWith("truncate"))).toEqual([]);
  const taker = writerOf((await findSession(db.sql, session.id))!, memoryAppender(committed));
  await taker.writer.append(message(content(10)));
  expect((await taker.writer.finish()).committedOffset).toBe(committed + 10);
});

test("a writer that lost its lock does not complete the session: another may be completing it", async () => {
  const session = await newSession(10);
  const { writer, held } = writerOf(session);
  await writer.append(message(content(10)));
  const committed = await writer.finish();
  held.valid = false;
  const commits: string[] = [];
  const blobs = { commit: async (id: string) => void commits.push(id) } as unknown as BlobStore;
  const noRemovals = { remove: () => expect("no removal").toBe("started"), idle: async () => {} };
  const err = await failure(
    completeFullUpload(
      { sql: db.sql, blobs, hashes, log: createLogger({ silent: true }), removals: noRemovals },
      committed,
      writer.hash,
      held,
    ),
  );
  expect([err && Code[err.code], err?.metadata.get("upload-offset")]).toEqual(["Unavailable", "10"]);
  expect(commits).toEqual([]);
  expect((await findSession(db.sql, session.id))!.completedAt).toBeNull();
});

test("a stream of one-byte messages keeps at most a bounded number of writes waiting, not one per message", async () => {
  const session = await newSession(5000);
  const disk = memoryAppender(0);
  let pending = 0;
  let mostPending = 0;
  const write = disk.appender.write;
  disk.appender.write = async (chunk) => {
    pending++;
    mostPending = Math.max(mostPending, pending);
    try {
      await write(chunk);
    } finally {
      pending--;
    }
  };
  const { writer } = writerOf(session, disk);
  for (let i = 0; i < 5000; i++) await writer.append(message(content(1)));
  await writer.finish();
  expect(await offsetOf(session.id)).toBe(5000);
  expect(mostPending).toBeLessThanOrEqual(257);
});

test("a writer whose lock was taken over without its knowing cannot move the offset: the new writer's claim fences it off", async () => {
  const session = (await claimSession(db.sql, (await newSession(100)).id))!;
  const old = writerOf(session);
  await old.writer.append(message(content(10)));
  await old.writer.finish();
  // The old writer's lock connection died on the server's side; it has not noticed (its lease still
  // reads valid), and another request claims the session.
  const taken = (await claimSession(db.sql, session.id))!;
  expect(taken.writerEpoch).toBe(session.writerEpoch + 1);
  const stale = writerOf((await findSession(db.sql, session.id))!, memoryAppender(10));
  // The stale writer still thinks it holds the epoch it had.
  const staleWriter = new SessionWriter(
    {
      sql: db.sql,
      hashes,
      log: createLogger({ silent: true }),
      checkpointBytes: 64 * KiB,
      sessionTtlSeconds: 3600,
      writeBehindBytes: 256 * KiB,
    },
    { ...taken, writerEpoch: session.writerEpoch },
    stale.disk.appender,
    nativeHash(),
    lease(),
  );
  await staleWriter.append(message(content(10)));
  const err = await failure(staleWriter.finish());
  expect([err && Code[err.code], err?.metadata.get("upload-offset")]).toEqual(["Unavailable", "10"]);
  expect(await offsetOf(session.id)).toBe(10);
  // The writer that holds the session goes on as if the stale one had never been.
  const current = writerOf(taken, memoryAppender(10));
  await current.writer.append(message(content(90)));
  expect((await current.writer.finish()).committedOffset).toBe(100);
});

describe("a request with its own checksum (all or nothing)", () => {
  const checksum = (data: Uint8Array, algorithm = "sha256") => ({
    algorithm,
    digest: createHash(algorithm).update(data).digest(),
  });

  /** A session with 10 committed bytes, and a writer of the next request (checkpoints every 16 KiB). */
  async function startedAt10() {
    const session = await newSession(200 * KiB);
    const first = writerOf(session);
    const firstBytes = content(10);
    await first.writer.append(message(firstBytes));
    await first.writer.finish();
    const at10 = (await findSession(db.sql, session.id))!;
    const hash = nativeHash(createHash("sha256").update(firstBytes));
    return { session, firstBytes, ...writerOf(at10, memoryAppender(10), lease(), 16 * KiB, hash) };
  }

  test.each(["sha256", "sha1", "md5"])(
    "a matching %s: committed at its end, and not one checkpoint before",
    async (algorithm) => {
      const { session, writer, disk } = await startedAt10();
      const data = content(100 * KiB);
      await writer.append(message(data.subarray(0, 50 * KiB), { checksum: checksum(data, algorithm) as never }));
      await writer.append(message(data.subarray(50 * KiB)));
      await writer.settled();
      expect(await offsetOf(session.id)).toBe(10); // six checkpoints' worth arrived, none committed
      await writer.finish();
      expect(await offsetOf(session.id)).toBe(10 + 100 * KiB);
      expect(disk.events.filter((e) => e.startsWith("sync"))).toEqual([`sync ${10 + 100 * KiB}`]);
    },
  );

  test("a long one keeps its session alive at each checkpoint, without moving the offset", async () => {
    const { session, writer } = await startedAt10();
    await db.sql`update upload_sessions set expires_at = now() + interval '10 seconds' where id = ${session.id}`;
    const data = content(40 * KiB);
    await writer.append(message(data, { checksum: checksum(data) as never }));
    const [row] = await db.sql`select committed_offset, expires_at > now() + interval '1000 seconds' as extended
                                 from upload_sessions where id = ${session.id}`;
    expect([Number(row.committedOffset), row.extended]).toEqual([10, true]);
  });

  test("a mismatch keeps nothing: DATA_LOSS with the offset to send it again from, the bytes cut off, the hash as before", async () => {
    const { session, firstBytes, writer, disk } = await startedAt10();
    const data = content(40 * KiB);
    const wrong = checksum(Buffer.concat([data.subarray(1), Buffer.from([7])]));
    await writer.append(message(data, { checksum: wrong as never }));
    const err = await failure(writer.finish());
    expect([err && Code[err.code], err?.metadata.get("upload-offset"), writer.state]).toEqual([
      "DataLoss",
      "10",
      "refused",
    ]);
    expect(err?.message).toMatch(/does not match its sha256 checksum; nothing of this request was kept/);
    expect(await offsetOf(session.id)).toBe(10);
    expect(disk.data().length).toBe(10);
    // The next request goes on from 10 with the hash of exactly those bytes.
    const again = writerOf((await findSession(db.sql, session.id))!, memoryAppender(10));
    const cached = await hashes.take(session.id, 10, {} as BlobStore);
    expect(cached.hash.digest().toString("hex")).toBe(createHash("sha256").update(firstBytes).digest("hex"));
    await again.writer.append(message(data, { checksum: checksum(data) as never }));
    expect((await again.writer.finish()).committedOffset).toBe(10 + 40 * KiB);
  });

  test("a request with a checksum that breaks off keeps nothing (what arrived cannot be checked)", async () => {
    const { session, writer, disk } = await startedAt10();
    const data = content(40 * KiB);
    await writer.append(message(data.subarray(0, 30 * KiB), { checksum: checksum(data) as never }));
    await writer.interrupt();
    expect([writer.state, await offsetOf(session.id), disk.data().length]).toEqual(["refused", 10, 10]);
  });

  test.each([
    [
      "an unknown algorithm",
      { algorithm: "crc32", digest: Buffer.alloc(4) },
      /crc32.*not supported: use sha256, sha1, md5/,
    ],
    [
      "a digest of the wrong length",
      { algorithm: "sha256", digest: Buffer.alloc(20) },
      /sha256 checksum has 32 bytes, not 20/,
    ],
  ])("%s is refused as invalid before anything is written", async (_name, bad, said) => {
    const { session, writer, disk } = await startedAt10();
    const err = await failure(writer.append(message(content(10), { checksum: bad as never })));
    expect([err && Code[err.code], err?.message]).toEqual(["InvalidArgument", expect.stringMatching(said)]);
    expect([await offsetOf(session.id), disk.events.filter((e) => e.startsWith("write"))]).toEqual([10, []]);
  });

  test("a checksum on a later message is refused: it would not cover the request", async () => {
    const { writer } = await startedAt10();
    await writer.append(message(content(10)));
    const err = await failure(writer.append(message(content(10), { checksum: checksum(content(10)) as never })));
    expect([err && Code[err.code], err?.message]).toEqual(["InvalidArgument", expect.stringMatching(/first message/)]);
  });
});
