/**
 * Where file content lives, behind one small interface so that the handlers never know the backend
 * (a local directory, or an S3 bucket). Content has two states: the *partial* content of an
 * upload session, appended to at its committed offset, and the committed *blob* a file row points
 * at. Both are named by server-generated UUIDs only; client-chosen names never reach a store.
 */
import type { StoreFailure } from "../store-failures.js";

/** A content id: a lowercase UUID, as the server generates them (the only names a store sees). */
export const contentIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Appends to one session's partial content. */
export interface BlobAppender {
  /**
   * Writes at the end of what was written before, even while earlier writes are still in flight
   * (the caller awaits them all before {@link sync}); not durable until then.
   */
  write(data: Uint8Array): Promise<void>;
  /**
   * Makes at least the first `length` bytes durable (everything written so far when omitted); a
   * store may make more durable (a file's fsync makes all of it).
   */
  sync(length?: number): Promise<void>;
  /**
   * Offsets at which sync is cheapest, if the store has such (an object store's part boundaries:
   * a sync anywhere else also writes what does not fill a part). Checkpoints go there.
   */
  readonly checkpointAlignment?: number;
  /** Cuts the content back to `length` bytes (and continues appending from there). */
  truncate(length: number): Promise<void>;
  /** Releases the handle; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * The record, kept in a blob store itself, of the database whose content it holds. The database
 * keeps the store's id in turn (see blob-ownership.ts), so that neither is ever paired with another.
 */
export interface StoreOwner {
  /** This store's own id. */
  storeId: string;
  /** The id of the database that owns it. */
  databaseId: string;
  /**
   * The Postgres instance of that database (cluster identifier and database OID), which a copy of
   * the database does not share; absent in records made before it was kept.
   */
  instance?: string;
  /** That database, for people (where it is; never a password). */
  database: string;
  /** When it was claimed (ISO 8601). */
  claimedAt: string;
}

/** A store of partial and committed content. */
export interface BlobStore {
  /** The owner recorded in the store, or undefined when none is. */
  readOwner(): Promise<StoreOwner | undefined>;
  /**
   * Records `owner` unless an owner is recorded already (exclusively: of two claims at once, one
   * wins); answers the owner recorded now, which is someone else's when the claim lost.
   */
  claimOwner(owner: StoreOwner): Promise<StoreOwner>;
  /** Whether the store holds no content at all (no blob, no partial content). */
  isEmpty(): Promise<boolean>;
  /**
   * Opens a session's partial content for appending at `offset`, creating it (durably) if it does
   * not exist. Bytes past `offset` — written but never committed — are cut off. Throws
   * BlobMissingError if fewer than `offset` bytes are there. `declaredSize` is the size the
   * content will have (an object store sizes its parts by it).
   */
  openAppend(uploadId: string, offset: number, declaredSize: number): Promise<BlobAppender>;
  /**
   * Streams bytes [start, end) of a session's partial content. Absent where the backend cannot
   * read content back before it is committed (S3 keeps no readable copy of a multipart upload's
   * parts): whoever needs the prefix again keeps what it needs with the offset instead.
   */
  readPartial?(uploadId: string, start: number, end: number): AsyncIterable<Uint8Array>;
  /** Bytes of a session's partial content, committed or not, or undefined if there is none. */
  partialSize(uploadId: string): Promise<number | undefined>;
  /**
   * Makes the first `length` bytes of a session's partial content (its committed offset) durably
   * available as the blob of the same id. Idempotent. Throws BlobMissingError if they are not there.
   */
  commit(uploadId: string, length: number): Promise<void>;
  /** Removes a session's partial content, if any. */
  discardPartial(uploadId: string): Promise<void>;
  /** Streams bytes [start, end) of a blob; throws BlobMissingError if there is no such blob. */
  read(blobId: string, start: number, end: number): AsyncIterable<Uint8Array>;
  /** Size of a blob, or undefined if there is none. */
  size(blobId: string): Promise<number | undefined>;
  /** Removes a blob, if any. */
  delete(blobId: string): Promise<void>;
  /** Ids of all partial contents. */
  listPartials(): AsyncIterable<string>;
  /** Ids of all blobs. */
  listBlobs(): AsyncIterable<string>;
  /** Classifies a failure of this store (undefined for anything else). */
  classifyError(err: unknown): StoreFailure | undefined;
}

/** Content that should be there is not (deleted concurrently, or lost). */
export class BlobMissingError extends Error {
  constructor(what: string) {
    super(`${what} is missing from the blob store`);
    this.name = "BlobMissingError";
  }
}

/** Groups a listing of ids (listPartials, listBlobs) into batches of `size`, one database query each. */
export async function* inBatches(ids: AsyncIterable<string>, size: number): AsyncIterable<string[]> {
  let current: string[] = [];
  for await (const id of ids) {
    current.push(id);
    if (current.length === size) {
      yield current;
      current = [];
    }
  }
  if (current.length > 0) yield current;
}
