/**
 * The BlobStore contract, for every implementation (go-cloud's drivertest and tus-node-server's
 * store tests do the same): each store's test file runs describeBlobStore beside its own cases.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { BlobMissingError, type BlobStore } from "../../src/store/blobs/blob-store.js";
import { sha256 } from "./uploads.js";

/** A store under test and how to throw it away. */
export interface BlobStoreFixture {
  store: BlobStore;
  dispose(): Promise<void>;
}

/** Everything an iterable yields, as one buffer. */
export async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

export async function listAll(ids: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of ids) out.push(id);
  return out.sort();
}

/** The size the contract's sessions declare (an object store sizes its parts by it). */
export const declaredSize = 1024 * 1024 * 1024;

/** Writes `data` as the whole partial content of `id` (from offset 0), synced and closed. */
export async function writePartial(store: BlobStore, id: string, data: Uint8Array): Promise<void> {
  const a = await store.openAppend(id, 0, declaredSize);
  try {
    await a.write(data);
    await a.sync();
  } finally {
    await a.close();
  }
}

/**
 * The first `length` bytes of a session's partial content: read back where the store can, else
 * committed and read as the blob (so only at the end of a test).
 */
export async function partialContent(store: BlobStore, id: string, length: number): Promise<Buffer> {
  if (store.readPartial) return readAll(store.readPartial(id, 0, length));
  await store.commit(id, length);
  return readAll(store.read(id, 0, length));
}

/** Awaits `run()` (which may also throw synchronously) and answers what it threw. */
export async function errorOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error, got none");
}

export const invalidIds = [
  "../etc/passwd",
  "abc",
  "",
  "0F8FAD5B-D9CB-469F-A165-70867728950E", // ids are lowercase, as the server generates them
  "0f8fad5b-d9cb-469f-a165-70867728950e/../../x",
  "../0f8fad5b-d9cb-469f-a165-70867728950e",
  "0f8fad5b-d9cb-469f-a165-70867728950e\0",
];

/** Every BlobStore operation that takes an id, run with `id` to the point where it must have failed. */
export function everyOperation(store: BlobStore, id: string): [string, () => Promise<unknown>][] {
  return [
    ["openAppend", () => store.openAppend(id, 0, declaredSize)],
    ...(store.readPartial
      ? [["readPartial", () => readAll(store.readPartial!(id, 0, 1))] as [string, () => Promise<unknown>]]
      : []),
    ["commit", () => store.commit(id, 0)],
    ["discardPartial", () => store.discardPartial(id)],
    ["read", () => readAll(store.read(id, 0, 1))],
    ["size", () => store.size(id)],
    ["partialSize", () => store.partialSize(id)],
    ["delete", () => store.delete(id)],
  ];
}

/**
 * The BlobStore contract (see src/store/blobs/blob-store.ts), for any implementation: `createStore` makes
 * a fresh, empty store for each test. Each store's own test file runs it beside its own cases.
 */
export function describeBlobStore(
  name: string,
  createStore: () => Promise<BlobStoreFixture>,
  { readsPartial = true }: { readsPartial?: boolean } = {},
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fixture: BlobStoreFixture;
    let store: BlobStore;
    beforeEach(async () => {
      fixture = await createStore();
      store = fixture.store;
    });
    afterEach(() => fixture.dispose());

    describe("openAppend", () => {
      test("creates empty partial content at offset 0", async () => {
        const id = randomUUID();
        const a = await store.openAppend(id, 0, declaredSize);
        await a.close();
        expect(await listAll(store.listPartials())).toEqual([id]);
        expect(await partialContent(store, id, 0)).toHaveLength(0);
      });

      test("refuses an offset past 0 when nothing exists, and creates nothing", async () => {
        const id = randomUUID();
        await expect(store.openAppend(id, 1, declaredSize)).rejects.toBeInstanceOf(BlobMissingError);
        expect(await listAll(store.listPartials())).toEqual([]);
      });

      test("reopening at the end continues appending", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("hello"));
        const a = await store.openAppend(id, 5, declaredSize);
        await a.write(Buffer.from(" world"));
        await a.sync();
        await a.close();
        expect((await partialContent(store, id, 11)).toString()).toBe("hello world");
      });

      test("reopening at a lower committed offset cuts off the uncommitted tail", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("hello world"));
        const a = await store.openAppend(id, 5, declaredSize);
        await a.write(Buffer.from("!!"));
        await a.sync();
        await a.close();
        expect(await store.partialSize(id)).toBe(7);
        // Committing shows the whole content: 7 bytes, nothing of " world" left behind.
        await store.commit(id, 7);
        expect(await store.size(id)).toBe(7);
        expect((await readAll(store.read(id, 0, 7))).toString()).toBe("hello!!");
      });

      test.each([
        ["0123456789", 4],
        ["abc", 0],
      ])("reopening %j at %i and closing without writing still cuts the tail", async (content, offset) => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from(content));
        await (await store.openAppend(id, offset, declaredSize)).close();
        expect(await store.partialSize(id)).toBe(offset);
        await store.commit(id, offset);
        expect(await store.size(id)).toBe(offset);
      });

      test("refuses an offset past the content with BlobMissingError, leaving the content", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("abc"));
        await expect(store.openAppend(id, 4, declaredSize)).rejects.toBeInstanceOf(BlobMissingError);
        expect((await partialContent(store, id, 3)).toString()).toBe("abc");
      });

      test("writes of several chunks land in order", async () => {
        const id = randomUUID();
        const a = await store.openAppend(id, 0, declaredSize);
        for (const part of ["a", "bc", "", "def"]) await a.write(Buffer.from(part));
        await a.sync();
        await a.close();
        expect((await partialContent(store, id, 6)).toString()).toBe("abcdef");
      });

      test("writes started before earlier ones finish land in the order they were made", async () => {
        // More writes than one batch of the directory store takes (256), none awaited before the next.
        const id = randomUUID();
        const parts = Array.from({ length: 600 }, (_, i) => randomBytes(1 + ((i * 7919) % 5000)));
        const a = await store.openAppend(id, 0, declaredSize);
        await Promise.all(parts.map((part) => a.write(part)));
        await a.sync();
        await a.close();
        const data = Buffer.concat(parts);
        expect(sha256(await partialContent(store, id, data.length))).toBe(sha256(data));
      });

      test("close is safe to call twice", async () => {
        const a = await store.openAppend(randomUUID(), 0, declaredSize);
        await a.close();
        await expect(a.close()).resolves.toBeUndefined();
      });
    });

    describe("truncate", () => {
      test("cuts the content back and appends from there", async () => {
        const id = randomUUID();
        const a = await store.openAppend(id, 0, declaredSize);
        await a.write(Buffer.from("abcdef"));
        await a.truncate(3);
        await a.write(Buffer.from("XY"));
        await a.sync();
        await a.close();
        await store.commit(id, 5);
        expect(await store.size(id)).toBe(5);
        expect((await readAll(store.read(id, 0, 5))).toString()).toBe("abcXY");
      });

      test("after a sync, then written again and synced: the new bytes replace the cut ones", async () => {
        const id = randomUUID();
        const a = await store.openAppend(id, 0, declaredSize);
        await a.write(Buffer.from("abcdef"));
        await a.sync();
        await a.truncate(3);
        await a.write(Buffer.from("XYZ"));
        await a.sync();
        await a.close();
        await store.commit(id, 6);
        expect((await readAll(store.read(id, 0, 6))).toString()).toBe("abcXYZ");
      });

      test("to the offset it was opened at (a refused request)", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("keep"));
        const a = await store.openAppend(id, 4, declaredSize);
        await a.write(Buffer.from("drop"));
        await a.truncate(4);
        await a.sync();
        await a.close();
        expect(await store.partialSize(id)).toBe(4);
        await store.commit(id, 4);
        expect(await store.size(id)).toBe(4);
        expect((await readAll(store.read(id, 0, 4))).toString()).toBe("keep");
      });
    });

    // Only for stores that can read partial content back (not S3: see BlobStore.readPartial).
    (readsPartial ? describe : describe.skip)("readPartial", () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

      test.each([
        [0, 256],
        [0, 1],
        [10, 20],
        [255, 256],
        [100, 101],
      ])("bytes [%d, %d)", async (start, end) => {
        const id = randomUUID();
        await writePartial(store, id, bytes);
        expect(await readAll(store.readPartial!(id, start, end))).toEqual(bytes.subarray(start, end));
      });

      test("an empty range yields nothing", async () => {
        const id = randomUUID();
        await writePartial(store, id, bytes);
        expect(await readAll(store.readPartial!(id, 7, 7))).toHaveLength(0);
      });

      test("of content that does not exist: BlobMissingError, also for an empty range", async () => {
        await expect(readAll(store.readPartial!(randomUUID(), 0, 1))).rejects.toBeInstanceOf(BlobMissingError);
        await expect(readAll(store.readPartial!(randomUUID(), 0, 0))).rejects.toBeInstanceOf(BlobMissingError);
      });

      test("sees bytes written but not yet synced by an open appender", async () => {
        // The hash cache re-reads a partial while its writer is still open.
        const id = randomUUID();
        const a = await store.openAppend(id, 0, declaredSize);
        try {
          await a.write(Buffer.from("visible"));
          expect((await readAll(store.readPartial!(id, 0, 7))).toString()).toBe("visible");
        } finally {
          await a.close();
        }
      });
    });

    describe("commit and read", () => {
      test("read returns the committed bytes", async () => {
        const id = randomUUID();
        const data = randomBytes(10_000);
        await writePartial(store, id, data);
        await store.commit(id, data.length);
        expect(await readAll(store.read(id, 0, data.length))).toEqual(data);
        expect(await store.size(id)).toBe(data.length);
      });

      test("ranges of a multi-megabyte blob cross chunk boundaries intact", async () => {
        const id = randomUUID();
        const data = randomBytes(3 * 1024 * 1024 + 7);
        await writePartial(store, id, data);
        await store.commit(id, data.length);
        // Compared by digest: a deep toEqual over megabytes takes seconds.
        expect(sha256(await readAll(store.read(id, 0, data.length)))).toBe(sha256(data));
        const [start, end] = [1024 * 1024 - 3, 2 * 1024 * 1024 + 5];
        expect(sha256(await readAll(store.read(id, start, end)))).toBe(sha256(data.subarray(start, end)));
      });

      test("a reader that stops early lets go of the content: it can be deleted and read again", async () => {
        const id = randomUUID();
        const data = randomBytes(3 * 1024 * 1024);
        await writePartial(store, id, data);
        await store.commit(id, data.length);
        for await (const chunk of store.read(id, 0, data.length)) {
          expect(chunk.byteLength).toBeGreaterThan(0);
          break; // while the next chunk is being read ahead
        }
        expect(sha256(await readAll(store.read(id, 5, data.length)))).toBe(sha256(data.subarray(5)));
        await store.delete(id);
        await expect(readAll(store.read(id, 0, 1))).rejects.toBeInstanceOf(BlobMissingError);
      });

      test("an empty blob", async () => {
        const id = randomUUID();
        await (await store.openAppend(id, 0, declaredSize)).close();
        await store.commit(id, 0);
        expect(await store.size(id)).toBe(0);
        expect(await readAll(store.read(id, 0, 0))).toHaveLength(0);
      });

      test("a request after the commit (its answer was lost) finds the content whole, and commits nothing new", async () => {
        const id = randomUUID();
        const data = randomBytes(5 * 1024 * 1024 + 10); // more than one part of an object store
        await writePartial(store, id, data);
        await store.commit(id, data.length);
        await (await store.openAppend(id, data.length, data.length)).close();
        await store.commit(id, data.length);
        expect(sha256(await readAll(store.read(id, 0, data.length)))).toBe(sha256(data));
      });

      test("is idempotent: committing twice keeps the same blob", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("twice"));
        await store.commit(id, 5);
        await store.commit(id, 5);
        expect((await readAll(store.read(id, 0, 5))).toString()).toBe("twice");
        expect(await listAll(store.listBlobs())).toEqual([id]);
      });

      test("discardPartial after commit leaves the blob readable", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("stays"));
        await store.commit(id, 5);
        await store.discardPartial(id);
        expect(await listAll(store.listPartials())).toEqual([]);
        expect((await readAll(store.read(id, 0, 5))).toString()).toBe("stays");
        expect(await store.size(id)).toBe(5);
      });

      test("commit without partial content fails", async () => {
        await expect(store.commit(randomUUID(), 1)).rejects.toThrow();
        expect(await listAll(store.listBlobs())).toEqual([]);
      });

      test("read of a missing blob: BlobMissingError, also for an empty range", async () => {
        const id = randomUUID();
        await expect(readAll(store.read(id, 0, 10))).rejects.toBeInstanceOf(BlobMissingError);
        await expect(readAll(store.read(id, 0, 0))).rejects.toBeInstanceOf(BlobMissingError);
      });

      test("partial content is not a blob until committed", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("not yet"));
        expect(await store.size(id)).toBeUndefined();
        await expect(readAll(store.read(id, 0, 1))).rejects.toBeInstanceOf(BlobMissingError);
        expect(await listAll(store.listBlobs())).toEqual([]);
      });
    });

    describe("size, delete, discardPartial", () => {
      test("size of a missing blob is undefined", async () => {
        expect(await store.size(randomUUID())).toBeUndefined();
      });

      test("partialSize counts every byte written, committed or not, and is undefined when there is none", async () => {
        const id = randomUUID();
        expect(await store.partialSize(id)).toBeUndefined();
        await writePartial(store, id, Buffer.from("committed"));
        const a = await store.openAppend(id, 9, declaredSize);
        await a.write(Buffer.from(" and more"));
        await a.sync(); // an object store has nothing of what was never synced
        await a.close();
        expect(await store.partialSize(id)).toBe(18);
        await store.discardPartial(id);
        expect(await store.partialSize(id)).toBeUndefined();
      });

      test("delete removes a blob and is idempotent", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("x"));
        await store.commit(id, 1);
        await store.discardPartial(id);
        await store.delete(id);
        await store.delete(id);
        expect(await store.size(id)).toBeUndefined();
        await expect(readAll(store.read(id, 0, 1))).rejects.toBeInstanceOf(BlobMissingError);
        expect(await listAll(store.listBlobs())).toEqual([]);
      });

      test("delete of a blob that never existed succeeds", async () => {
        await expect(store.delete(randomUUID())).resolves.toBeUndefined();
      });

      test("delete of one blob leaves the others", async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        for (const id of [a, b]) {
          await writePartial(store, id, Buffer.from(id));
          await store.commit(id, Buffer.byteLength(id));
        }
        await store.delete(a);
        expect(await listAll(store.listBlobs())).toEqual([b]);
        expect((await readAll(store.read(b, 0, 36))).toString()).toBe(b);
      });

      test("discardPartial removes partial content and is idempotent", async () => {
        const id = randomUUID();
        await writePartial(store, id, Buffer.from("x"));
        await store.discardPartial(id);
        await store.discardPartial(id);
        await store.discardPartial(randomUUID());
        expect(await listAll(store.listPartials())).toEqual([]);
        // Gone means a fresh start: offset 0 works, a later offset does not.
        await expect(store.openAppend(id, 1, declaredSize)).rejects.toBeInstanceOf(BlobMissingError);
      });
    });

    describe("listing", () => {
      test("an empty store lists nothing", async () => {
        expect(await listAll(store.listPartials())).toEqual([]);
        expect(await listAll(store.listBlobs())).toEqual([]);
      });

      test("listPartials and listBlobs answer ids", async () => {
        const ids = Array.from({ length: 5 }, () => randomUUID());
        for (const id of ids) await writePartial(store, id, Buffer.from("p"));
        const committed = ids.slice(0, 2);
        for (const id of committed) await store.commit(id, 1);
        await store.discardPartial(committed[0]);
        expect(await listAll(store.listPartials())).toEqual(ids.filter((id) => id !== committed[0]).sort());
        expect(await listAll(store.listBlobs())).toEqual([...committed].sort());
      });

      test("ids sharing their first two hex digits are all listed", async () => {
        // Directory stores often fan out by a prefix; a shared prefix must not hide blobs.
        const ids = [
          "ab000000-0000-4000-8000-000000000001",
          "ab000000-0000-4000-8000-000000000002",
          "cd000000-0000-4000-8000-000000000003",
        ];
        for (const id of ids) {
          await writePartial(store, id, Buffer.from(id));
          await store.commit(id, Buffer.byteLength(id));
        }
        expect(await listAll(store.listBlobs())).toEqual(ids);
      });
    });

    describe("invalid ids", () => {
      test.each(invalidIds)("%j is refused by every operation", async (id) => {
        for (const [op, run] of everyOperation(store, id)) {
          const err = await errorOf(run);
          // A bad id is a bug in the caller, not lost content: it must not look like BlobMissingError.
          expect([op, err instanceof Error]).toEqual([op, true]);
          expect([op, err instanceof BlobMissingError]).toEqual([op, false]);
        }
        expect(await listAll(store.listPartials())).toEqual([]);
        expect(await listAll(store.listBlobs())).toEqual([]);
      });
    });
  });
}

/** Every path under `dir`, relative to it, directories marked with a trailing "/". */
