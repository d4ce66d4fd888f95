/**
 * The removal ledger against a real Postgres and a real blob directory: an id let go of twice (a
 * completed session's partial, then its file's blob) is forgotten only once both are gone; a
 * removal queue lets its caller go on at once and says when its removals have ended.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRemovalQueue, removeContent } from "../../src/files/content-removal.js";
import { createLogger } from "../../src/log.js";
import type { BlobStore } from "../../src/store/blobs/blob-store.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import { countPendingRemovals, forgetRemovals, removalCandidates } from "../../src/store/postgres/content-removals.js";
import { connectDatabase } from "../../src/store/postgres/database.js";
import { completeUpload, deleteFile } from "../../src/store/postgres/file-rows.js";
import type { SessionRow } from "../../src/store/postgres/upload-sessions.js";
import { writePartial } from "../support/blob-store-contract.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

let db: TestDatabase;
let dir: string;
let blobs: BlobStore;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "files-removal-"));
  blobs = await createDirectoryBlobStore(dir);
});
afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test("a delete that lands while a completion's removal runs is not forgotten with it", async () => {
  const id = randomUUID();
  await writePartial(blobs, id, randomBytes(10));
  await blobs.commit(id, 10);
  // The completion made the file and let go of the partial content (same id as the blob).
  await db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id) values ('b', 'k', 'x/y', 10, ${Buffer.alloc(32)}, ${id})`;
  await db.sql`insert into content_removals (id) values (${id})`;
  // Its removal reads the ledger: the blob is in use, so only the partial will go...
  const [candidate] = await removalCandidates(db.sql, [id]);
  expect(candidate).toMatchObject({ id, blobInUse: true, version: 1 });
  // ...and meanwhile the file is deleted, letting go of the blob too.
  await deleteFile(db.sql, "b", "k");
  await blobs.discardPartial(id);
  await forgetRemovals(db.sql, [candidate]);
  // The second letting-go is still recorded, so the blob is removed after all.
  expect(await countPendingRemovals(db.sql)).toBe(1);
  expect(await removeContent({ sql: db.sql, blobs, log: createLogger({ silent: true }) }, [id])).toBe(1);
  expect(await blobs.size(id)).toBeUndefined();
  expect(await countPendingRemovals(db.sql)).toBe(0);
});

test("a completion that runs while another completion of the same bucket/key inserts its file learns what it replaces", async () => {
  const [first, second] = [randomUUID(), randomUUID()];
  await db.sql`insert into upload_sessions (id, bucket, key, mime_type, size, committed_offset, expires_at)
               values (${second}, 'race', 'same.bin', 'x/y', 0, 0, now() + interval '1 hour')`;
  const [session] = await db.sql<SessionRow[]>`select * from upload_sessions where id = ${second}`;
  // Another server's completion of the same key, caught between inserting its file row and its
  // commit (it takes the completions' turn as completeUpload does).
  const other = connectDatabase({ url: db.url, schema: db.schema, max: 1 });
  try {
    let commitOther!: () => void;
    const otherCommits = new Promise<void>((resolve) => (commitOther = resolve));
    let inserted!: () => void;
    const otherInserted = new Promise<void>((resolve) => (inserted = resolve));
    const otherCompletion = other.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('files-service file'), hashtext('race/same.bin'))`;
      await tx`insert into files (bucket, key, mime_type, bytes, sha256, blob_id) values ('race', 'same.bin', 'x/y', 0, ${Buffer.alloc(32)}, ${first})`;
      inserted();
      await otherCommits;
    });
    await otherInserted;
    const completing = completeUpload(db.sql, session, Buffer.alloc(32));
    await new Promise((r) => setTimeout(r, 200)); // it gets as far as it can
    commitOther();
    await otherCompletion;
    // It replaced the other's version and says so, so that its caller removes that blob (the other
    // completion's own removal found the blob in use, and forgot it).
    expect((await completing)?.replacedBlobId).toBe(first);
  } finally {
    await other.end();
  }
});

test("a removal queue returns at once, and is idle only once its removals (and those started meanwhile) have ended", async () => {
  const stored = async () => {
    const id = randomUUID();
    await writePartial(blobs, id, randomBytes(10));
    await blobs.commit(id, 10);
    await db.sql`insert into content_removals (id) values (${id})`;
    return id;
  };
  // Each unlink waits until the test lets it go.
  const gates: (() => void)[] = [];
  const gated: BlobStore = {
    ...blobs,
    delete: async (id) => {
      await new Promise<void>((resolve) => gates.push(resolve));
      await blobs.delete(id);
    },
  };
  const queue = createRemovalQueue({ sql: db.sql, blobs: gated, log: createLogger({ silent: true }) });
  const [first, second] = [await stored(), await stored()];
  queue.remove([first]);
  let idle = false;
  const idling = queue.idle().then(() => (idle = true));
  while (gates.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(await blobs.size(first)).toBe(10); // the caller went on; the content is still there
  queue.remove([second]); // started while idle() waits: waited for too
  gates.shift()!();
  while (gates.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(idle).toBe(false);
  gates.shift()!();
  await idling;
  expect([await blobs.size(first), await blobs.size(second)]).toEqual([undefined, undefined]);
  expect(await removalCandidates(db.sql, [first, second])).toEqual([]); // and forgotten
});
