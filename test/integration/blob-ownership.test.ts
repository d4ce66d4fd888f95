/**
 * A blob store and its database, bound both ways (src/store/blob-ownership.ts), for the cases the
 * end-to-end test (test/e2e/blob-ownership.test.ts) does not reach through `npm start`: a copy of
 * the owner's database, and a start that is refused.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bindContentStore, OwnershipError, type OwnershipNames } from "../../src/store/blob-ownership.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

const names: OwnershipNames = {
  database: "this database",
  databaseSettings: "DATABASE_URL",
  store: "test store",
  storeSettings: "BLOB_DIR",
};
const dbs: TestDatabase[] = [];
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "files-ownership-int-"));
});
afterAll(async () => {
  for (const db of dbs) await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  dbs.push(db);
  return db;
}

test("a copy of the owner's database (its deployment row restored elsewhere) is refused the owner's store", async () => {
  const [owner, copy] = [await database(), await database()];
  const store = await createDirectoryBlobStore(path.join(dir, "owned"));
  await bindContentStore(owner.sql, store, names);
  // A restore copies the deployment row, ids and all.
  const [row] = await owner.sql`select database_id, blob_store_id from deployment`;
  await copy.sql`update deployment set database_id = ${row.databaseId}, blob_store_id = ${row.blobStoreId}`;
  await expect(bindContentStore(copy.sql, store, names)).rejects.toThrow(/this database is a copy of that database/);
  await bindContentStore(owner.sql, store, names); // the owner itself still starts
});

test("a refused start leaves no claim behind on the store it was refused", async () => {
  const db = await database();
  const first = await createDirectoryBlobStore(path.join(dir, "first"));
  await bindContentStore(db.sql, first, names);
  await db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id) values ('b', 'k', 'x/y', 0, ${Buffer.alloc(32)}, gen_random_uuid())`;
  const other = await createDirectoryBlobStore(path.join(dir, "other"));
  await expect(bindContentStore(db.sql, other, names)).rejects.toBeInstanceOf(OwnershipError);
  expect(await readdir(path.join(dir, "other"))).not.toContain("owner.json");
  // So another database may still have it.
  await bindContentStore((await database()).sql, other, names);
});
