/**
 * The directory blob store: the BlobStore contract (test/support/blob-store-contract.ts) and its own
 * cases — the layout on disk, fsyncs, paths that never escape its root.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BlobMissingError, type BlobStore } from "../../src/store/blobs/blob-store.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import {
  declaredSize,
  describeBlobStore,
  errorOf,
  everyOperation,
  invalidIds,
  listAll,
  readAll,
  writePartial,
} from "../support/blob-store-contract.js";

async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)) + (e.isDirectory() ? "/" : ""))
    .sort();
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "blob-store-test-"));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

describeBlobStore("directory", async () => {
  const root = await mkdtemp(path.join(scratch, "store-"));
  return { store: await createDirectoryBlobStore(root), dispose: () => rm(root, { recursive: true, force: true }) };
});

describe("directory blob store", () => {
  let parent: string;
  let root: string;
  let store: BlobStore;
  beforeEach(async () => {
    // The store gets a subdirectory of its own, so that anything written beside it shows up in `parent`.
    parent = await mkdtemp(path.join(scratch, "parent-"));
    root = path.join(parent, "root");
    store = await createDirectoryBlobStore(root);
  });
  afterEach(() => rm(parent, { recursive: true, force: true }));

  test("creates its directories, including missing parents", async () => {
    const deep = path.join(parent, "a", "b", "c");
    await createDirectoryBlobStore(deep);
    expect(await tree(deep)).toEqual(["blobs/", "partial/"]);
  });

  test("opening an existing root keeps its content", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("persisted"));
    await store.commit(id, 9);
    const again = await createDirectoryBlobStore(root);
    expect((await readAll(again.read(id, 0, 9))).toString()).toBe("persisted");
  });

  test("partial content lives in partial/<id>", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("partial bytes"));
    expect(await readFile(path.join(root, "partial", id), "utf8")).toBe("partial bytes");
    expect(await tree(root)).toEqual(["blobs/", "partial/", `partial/${id}`]);
  });

  test("partial content is readable by the owner only", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("private"));
    expect((await stat(path.join(root, "partial", id))).mode & 0o777).toBe(0o600);
  });

  test("a blob lives in blobs/<first two hex digits>/<id>", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("blob bytes"));
    await store.commit(id, 10);
    await store.discardPartial(id);
    expect(await readFile(path.join(root, "blobs", id.slice(0, 2), id), "utf8")).toBe("blob bytes");
    expect(await tree(root)).toEqual([
      "blobs/",
      `blobs/${id.slice(0, 2)}/`,
      `blobs/${id.slice(0, 2)}/${id}`,
      "partial/",
    ]);
  });

  test("delete removes the blob file", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("x"));
    await store.commit(id, 1);
    await store.delete(id);
    await expect(stat(path.join(root, "blobs", id.slice(0, 2), id))).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("commit replaces a stale blob file left by an interrupted attempt", async () => {
    const id = randomUUID();
    await mkdir(path.join(root, "blobs", id.slice(0, 2)), { recursive: true });
    await writeFile(path.join(root, "blobs", id.slice(0, 2), id), "stale and longer");
    await writePartial(store, id, Buffer.from("fresh"));
    await store.commit(id, 5);
    expect(await store.size(id)).toBe(5);
    expect((await readAll(store.read(id, 0, 5))).toString()).toBe("fresh");
  });

  test("a second commit of the same content (a writer that took over completes it too) leaves the blob untouched", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("content"));
    await store.commit(id, 7);
    const blob = path.join(root, "blobs", id.slice(0, 2), id);
    const before = await stat(blob);
    await new Promise((r) => setTimeout(r, 20));
    await store.commit(id, 7);
    // Unlinking and linking the name again (the old way) changes the inode's link count, and so its
    // ctime: for a moment the name was gone, and a removal of the partial then lost the content.
    expect((await stat(blob)).ctimeMs).toBe(before.ctimeMs);
    await store.discardPartial(id);
    expect((await readAll(store.read(id, 0, 7))).toString()).toBe("content");
  });

  test("listings skip names that are not ids", async () => {
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("x"));
    await store.commit(id, 1);
    await writeFile(path.join(root, "partial", "notes.txt"), "");
    await writeFile(path.join(root, "partial", `${id}.tmp`), "");
    await writeFile(path.join(root, "blobs", "stray-file"), ""); // a file where a fan-out directory belongs
    await writeFile(path.join(root, "blobs", id.slice(0, 2), "junk"), "");
    expect(await listAll(store.listPartials())).toEqual([id]);
    expect(await listAll(store.listBlobs())).toEqual([id]);
  });

  test("nothing is ever created outside the root", async () => {
    const before = await tree(parent);
    // A full lifecycle, a refused reopen, and every operation with every invalid id.
    const id = randomUUID();
    await writePartial(store, id, Buffer.from("lifecycle"));
    await expect(store.openAppend(id, 100, declaredSize)).rejects.toBeInstanceOf(BlobMissingError);
    await store.commit(id, 9);
    await store.commit(id, 9);
    await store.discardPartial(id);
    await readAll(store.read(id, 0, 9));
    await store.delete(id);
    for (const bad of invalidIds) for (const [, run] of everyOperation(store, bad)) await errorOf(run);
    const after = await tree(parent);
    expect(after.filter((p) => !p.startsWith("root/"))).toEqual(before.filter((p) => !p.startsWith("root/")));
    // Inside the root, only the fan-out directory of the deleted blob remains.
    expect(after).toEqual(["root/", "root/blobs/", `root/blobs/${id.slice(0, 2)}/`, "root/partial/"]);
  });

  test.each(invalidIds)("invalid id %j touches nothing, not even inside the root", async (bad) => {
    const before = await tree(parent);
    for (const [op, run] of everyOperation(store, bad)) {
      const err = await errorOf(run);
      expect([op, String(err)]).toEqual([op, expect.stringMatching(/invalid blob id/)]);
    }
    expect(await tree(parent)).toEqual(before);
  });

  test("an invalid id is refused even when the path it would name exists", async () => {
    // "../etc/passwd" resolved against partial/ would be <root>/etc/passwd: make it exist and readable,
    // so a store that built the path first would succeed instead of refusing.
    await mkdir(path.join(root, "etc"), { recursive: true });
    await writeFile(path.join(root, "etc", "passwd"), "secret");
    const err = await errorOf(() => readAll(store.readPartial!("../etc/passwd", 0, 6)));
    expect(String(err)).toMatch(/invalid blob id/);
  });
});
