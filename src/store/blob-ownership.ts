/**
 * Binds a database to the blob store that holds its content, both ways: the store records the
 * database that owns it (StoreOwner), and the database records the store (deployment.blob_store_id).
 * A server starts only on a pair that belongs together, so two databases (or two schemas) never
 * share one store — where one's sweep or fsck could remove the other's content — and a database
 * never writes new content into a store other than the one holding its files.
 */
import { randomUUID } from "node:crypto";
import { inBatches, type BlobStore, type StoreOwner } from "./blobs/blob-store.js";
import type { Sql } from "./postgres/database.js";
import {
  bindBlobStore,
  readDeployment,
  refersToAnyOf,
  refersToContent,
  type DeploymentRow,
} from "./postgres/deployment.js";

/** How the two sides are named in messages: where they are, and the settings that choose them. */
export interface OwnershipNames {
  /** This database, e.g. `postgres://db:5432/files, schema public` (never a password). */
  database: string;
  /** The settings that choose the database, e.g. `DATABASE_URL and DATABASE_SCHEMA`. */
  databaseSettings: string;
  /** The blob store, e.g. `blob directory /srv/blobs`. */
  store: string;
  /** The setting that chooses the store, e.g. `BLOB_DIR (--blob-dir)`. */
  storeSettings: string;
}

/** The database and the blob store do not belong together; starting would mix or lose content. */
export class OwnershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OwnershipError";
  }
}

// How many ids of an unmarked store are looked up to tell whether its content is this database's.
const sampleSize = 1000;

/**
 * Makes sure `blobs` is this database's store, claiming it when it records no owner yet. Throws
 * OwnershipError, saying what belongs to what and how to choose, when they do not belong together.
 * A database that refers to no content yet may move to another store; one that does may not.
 */
export async function bindContentStore(sql: Sql, blobs: BlobStore, names: OwnershipNames): Promise<StoreOwner> {
  const deployment = await readDeployment(sql);
  let owner = await blobs.readOwner();
  if (!owner) {
    await checkUnmarkedStore(sql, blobs, names);
    // A store that lost its record while this database refers to its content gets its id back.
    const storeId = (!(await blobs.isEmpty()) && deployment.blobStoreId) || randomUUID();
    // Decided before the claim: a refused start must not leave its claim on the store behind.
    await checkMayBind(sql, deployment.blobStoreId, storeId, names);
    owner = await blobs.claimOwner({
      storeId,
      databaseId: deployment.databaseId,
      instance: deployment.instance,
      database: names.database,
      claimedAt: new Date().toISOString(),
    });
  }
  checkOwner(owner, deployment, names);
  if (deployment.blobStoreId === owner.storeId) return owner;
  await checkMayBind(sql, deployment.blobStoreId, owner.storeId, names);
  // Compare-and-set: of two servers binding this database at once, one is told no.
  if (!(await bindBlobStore(sql, owner.storeId, deployment.blobStoreId))) {
    throw new OwnershipError(
      `${names.database} was just bound to another blob store by another server; check ${names.storeSettings} on every server of this database`,
    );
  }
  return owner;
}

/** A database bound to another store may move to `storeId` only while it refers to no content. */
async function checkMayBind(
  sql: Sql,
  boundStoreId: string | null,
  storeId: string,
  names: OwnershipNames,
): Promise<void> {
  if (boundStoreId === null || boundStoreId === storeId) return;
  if (await refersToContent(sql)) throw storeOfAnother(names);
}

/**
 * Checks, without claiming anything, that `blobs` is this database's store (for tools such as fsck
 * that must not write). Answers undefined for a store that no database has claimed yet.
 */
export async function verifyContentStore(
  sql: Sql,
  blobs: BlobStore,
  names: OwnershipNames,
): Promise<StoreOwner | undefined> {
  const deployment = await readDeployment(sql);
  const owner = await blobs.readOwner();
  if (!owner) return undefined;
  checkOwner(owner, deployment, names);
  if (deployment.blobStoreId !== owner.storeId) throw storeOfAnother(names);
  return owner;
}

function checkOwner(owner: StoreOwner, deployment: DeploymentRow, names: OwnershipNames): void {
  if (owner.databaseId === deployment.databaseId) {
    // The same id in another Postgres instance: a clone or a restored copy (a staging copy of
    // production, say), whose deletes and sweeps would remove the owner's content.
    if (owner.instance === undefined || deployment.instance === undefined || owner.instance === deployment.instance)
      return;
    throw new OwnershipError(
      `the ${names.store} belongs to ${owner.database || "a database"} (claimed ${owner.claimedAt}); ${names.database} is a ` +
        `copy of that database (restored or cloned into another Postgres), not the database itself. Give the copy a store of ` +
        `its own with ${names.storeSettings}. If it is the owner restored from a backup, to go on with this store, remove ` +
        `owner.json from the store: the next start claims it again for the database whose content it holds.`,
    );
  }
  throw new OwnershipError(
    `the ${names.store} belongs to another database (${owner.database || "unnamed"}, claimed ${owner.claimedAt}), ` +
      `not to ${names.database}. Starting would mix two databases' files in one store. Choose: give this database a store of ` +
      `its own with ${names.storeSettings}, or set ${names.databaseSettings} back to the database that owns this store.`,
  );
}

/**
 * A store that records no owner may be claimed when it is empty, or when it holds content this
 * database refers to (a store from before owner records existed, or one whose record was lost).
 */
async function checkUnmarkedStore(sql: Sql, blobs: BlobStore, names: OwnershipNames): Promise<void> {
  if ((await blobs.isEmpty()) || (await refersToAnyOf(sql, await firstIds(blobs)))) return;
  throw new OwnershipError(
    `the ${names.store} holds content that ${names.database} does not refer to, and records no owner: it may be another ` +
      `database's. Choose: give this database an empty store with ${names.storeSettings}, or set ${names.databaseSettings} ` +
      "to the database whose content it holds.",
  );
}

function storeOfAnother(names: OwnershipNames): OwnershipError {
  return new OwnershipError(
    `${names.database} keeps its content in another blob store, not in the ${names.store}. Starting here would leave ` +
      `its files' content behind. Choose: set ${names.storeSettings} back to that store, or give this store a database ` +
      `of its own with ${names.databaseSettings}.`,
  );
}

async function firstIds(blobs: BlobStore): Promise<string[]> {
  const ids: string[] = [];
  for (const listing of [blobs.listBlobs(), blobs.listPartials()]) {
    for await (const batch of inBatches(listing, sampleSize)) {
      ids.push(...batch);
      break;
    }
  }
  return ids;
}
