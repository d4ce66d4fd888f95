/**
 * A BlobStore in a local directory:
 *
 *   <root>/owner.json            the database this directory belongs to (see StoreOwner)
 *   <root>/partial/<uuid>        content of an upload session, appended in place
 *   <root>/blobs/<ab>/<uuid>     committed content (fanned out by the id's first two hex digits)
 *
 * Committing hard-links the partial file into blobs/: no copy, no window in which neither name
 * exists, and retrying after a crash is harmless. Directory entries are fsynced too, so a file that
 * was acknowledged survives power loss, not only its bytes.
 */
import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import {
  link,
  mkdir,
  open,
  opendir,
  readdir,
  readFile,
  rm,
  stat,
  rename,
  writeFile,
  type FileHandle,
} from "node:fs/promises";
import path from "node:path";
import {
  BlobMissingError,
  contentIdPattern,
  type BlobAppender,
  type BlobStore,
  type StoreOwner,
} from "./blob-store.js";
import { errorCode, type StoreFailure } from "../store-failures.js";

// Content is read in chunks that start small and double, up to the largest, while the reader keeps
// asking; the next chunk is read while the reader handles the one before. A fast reader soon gets
// large chunks (1 MiB reads serve a REST download at three times the rate of 128 KiB ones, mostly
// by sparing the garbage collector), while one that stops reading, as a client that opens hundreds
// of HTTP/2 downloads and reads none, holds no more than a few small ones.
const firstReadBytes = 64 * 1024;
const largestReadBytes = 1024 * 1024;

/** Creates the store under `root`, making its directories if needed. */
export async function createDirectoryBlobStore(root: string): Promise<BlobStore> {
  const base = path.resolve(root);
  const partialDir = path.join(base, "partial");
  const blobsDir = path.join(base, "blobs");
  await mkdir(partialDir, { recursive: true });
  await mkdir(blobsDir, { recursive: true });

  // Ids come from the server, but a path is only ever built from a checked UUID, and checked to
  // stay inside the store: defence in depth against a bug elsewhere.
  function checkedPath(dir: string, id: string): string {
    if (!contentIdPattern.test(id)) throw new Error(`invalid blob id ${JSON.stringify(id)}`);
    const p = dir === blobsDir ? path.join(blobsDir, id.slice(0, 2), id) : path.join(dir, id);
    if (!p.startsWith(base + path.sep)) throw new Error(`blob path escapes the store`);
    return p;
  }
  const partialPath = (id: string) => checkedPath(partialDir, id);
  const blobPath = (id: string) => checkedPath(blobsDir, id);
  const ownerPath = path.join(base, "owner.json");

  async function readOwner(): Promise<StoreOwner | undefined> {
    let text: string;
    try {
      text = await readFile(ownerPath, "utf8");
    } catch (err) {
      if (errorCode(err) === "ENOENT") return undefined;
      throw err;
    }
    const owner = JSON.parse(text) as Partial<StoreOwner>;
    if (typeof owner.storeId !== "string" || typeof owner.databaseId !== "string") {
      throw new Error(`${ownerPath} is not an owner record of this service (storeId and databaseId missing)`);
    }
    return owner as StoreOwner;
  }

  async function* listPartials(): AsyncIterable<string> {
    for (const name of await readdir(partialDir)) if (contentIdPattern.test(name)) yield name;
  }

  async function* listBlobs(): AsyncIterable<string> {
    for await (const fanout of await opendir(blobsDir)) {
      if (!fanout.isDirectory()) continue;
      for (const name of await readdir(path.join(blobsDir, fanout.name))) if (contentIdPattern.test(name)) yield name;
    }
  }

  async function listsAnything(names: AsyncIterable<string>): Promise<boolean> {
    for await (const _ of names) return true;
    return false;
  }

  return {
    readOwner,

    async claimOwner(owner) {
      // Written whole and fsynced under a temporary name, then linked into place: link() fails if
      // the name exists, so of two servers claiming at once exactly one wins, and a crash never
      // leaves half a record.
      const temporary = path.join(base, `.owner.json.${randomUUID()}`);
      await writeFile(temporary, `${JSON.stringify(owner, null, 2)}\n`, { mode: 0o644, flush: true });
      try {
        await link(temporary, ownerPath);
        await syncDirectory(base);
      } catch (err) {
        if (errorCode(err) !== "EEXIST") throw err;
      } finally {
        await rm(temporary, { force: true });
      }
      return (await readOwner())!;
    },

    async isEmpty() {
      return !(await listsAnything(listPartials())) && !(await listsAnything(listBlobs()));
    },

    async openAppend(uploadId, offset) {
      const file = partialPath(uploadId);
      let handle: FileHandle;
      try {
        handle = await open(file, constants.O_WRONLY);
      } catch (err) {
        if (errorCode(err) !== "ENOENT") throw err;
        if (offset > 0) throw new BlobMissingError(`partial content of upload ${uploadId}`);
        handle = await open(file, constants.O_WRONLY | constants.O_CREAT, 0o600);
        await syncDirectory(partialDir); // the new name must survive a crash, like its bytes
      }
      try {
        const { size } = await handle.stat();
        if (size < offset)
          throw new BlobMissingError(`committed content of upload ${uploadId} (has ${size} of ${offset} bytes)`);
        if (size > offset) await handle.truncate(offset); // written after the last commit: never counted
        return createAppender(handle, offset);
      } catch (err) {
        await handle.close();
        throw err;
      }
    },

    readPartial: (uploadId, start, end) =>
      readRange(partialPath(uploadId), start, end, `partial content of upload ${uploadId}`),

    partialSize: (uploadId) => sizeOf(partialPath(uploadId)),

    async commit(uploadId) {
      const target = blobPath(uploadId);
      // A new fan-out directory is an entry of blobs/ itself: that must survive a crash too.
      if (await mkdir(path.dirname(target), { recursive: true })) await syncDirectory(blobsDir);
      try {
        await link(partialPath(uploadId), target);
      } catch (err) {
        if (errorCode(err) === "ENOENT") throw new BlobMissingError(`partial content of upload ${uploadId}`);
        if (errorCode(err) !== "EEXIST") throw err;
        await relink(partialPath(uploadId), target);
      }
      await syncDirectory(path.dirname(target));
    },

    discardPartial: (uploadId) => rm(partialPath(uploadId), { force: true }),

    read: (blobId, start, end) => readRange(blobPath(blobId), start, end, `content of blob ${blobId}`),

    size: (blobId) => sizeOf(blobPath(blobId)),

    delete: (blobId) => rm(blobPath(blobId), { force: true }),

    listPartials,

    listBlobs,

    classifyError: classifyFileSystemError,
  };
}

/** Writes gathered into one writev, at most this many (Linux takes up to 1024 buffers in one). */
const maxBatchWrites = 256;

/** Writes that go to the disk together, at one position, and settle together. */
interface Batch {
  at: number;
  buffers: Uint8Array[];
  written: Promise<void>;
  settle(err?: unknown): void;
}

/**
 * Appends through one writing loop: what is written while a write runs is gathered and goes to the
 * disk in one writev when it ends. A body arrives in socket-sized chunks (64 KiB over HTTP/1.1,
 * 16 KiB HTTP/2 frames); one system call and one thread-pool task a chunk cost more than the copy
 * into the page cache itself.
 */
function createAppender(handle: FileHandle, start: number): BlobAppender {
  let position = start;
  const waiting: Batch[] = [];
  let writing = false;
  let closed = false;

  async function writeWaiting(): Promise<void> {
    writing = true;
    for (let batch = waiting.shift(); batch; batch = waiting.shift()) {
      try {
        await writeAllAt(handle, batch.buffers, batch.at);
        batch.settle();
      } catch (err) {
        batch.settle(err);
      }
    }
    writing = false;
  }

  function newBatch(): Batch {
    let settle!: (err?: unknown) => void;
    const written = new Promise<void>((resolve, reject) => {
      settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    return { at: position, buffers: [], written, settle };
  }

  return {
    write(data) {
      // The position is taken now: writes land where they were made, in order, whenever they run.
      let batch = waiting.at(-1);
      if (!batch || batch.buffers.length === maxBatchWrites) {
        batch = newBatch();
        waiting.push(batch);
      }
      batch.buffers.push(data);
      position += data.byteLength;
      if (!writing) void writeWaiting();
      return batch.written;
    },
    sync: () => handle.datasync(),
    async truncate(length) {
      await handle.truncate(length);
      position = length;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

async function writeAllAt(handle: FileHandle, buffers: Uint8Array[], at: number): Promise<void> {
  let rest = buffers;
  let total = rest.reduce((n, b) => n + b.byteLength, 0);
  for (let offset = at; total > 0; ) {
    const { bytesWritten } = await handle.writev(rest, offset);
    offset += bytesWritten;
    total -= bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
}

/** The buffers with their first `n` bytes gone (after a short write). */
function dropBytes(buffers: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  for (; i < buffers.length && n >= buffers[i]!.byteLength; i++) n -= buffers[i]!.byteLength;
  if (i === buffers.length) return [];
  return [buffers[i]!.subarray(n), ...buffers.slice(i + 1)];
}

async function* readRange(file: string, start: number, end: number, what: string): AsyncIterable<Uint8Array> {
  const missing = (err: unknown) => (errorCode(err) === "ENOENT" ? new BlobMissingError(what) : err);
  if (end <= start) {
    // Still tell a missing blob from an empty range.
    await stat(file).catch((err) => {
      throw missing(err);
    });
    return;
  }
  const handle = await open(file, constants.O_RDONLY).catch((err) => {
    throw missing(err);
  });
  let at = start;
  let size = firstReadBytes;
  const readNext = (): Promise<Buffer> | undefined => {
    if (at >= end) return undefined;
    const length = Math.min(size, end - at);
    const read = readAt(handle, length, at);
    at += length;
    size = Math.min(2 * size, largestReadBytes);
    return read;
  };
  let next = readNext();
  try {
    while (next) {
      const chunk = await next;
      if (chunk.byteLength === 0) return; // the file is shorter than asked: the caller counts
      next = readNext();
      yield chunk;
    }
  } finally {
    // A read still running when the reader stops must end before its handle closes.
    await next?.catch(() => undefined);
    await handle.close();
  }
}

/** Up to `length` bytes at `position`; fewer only at the end of the file. */
async function readAt(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if (errorCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * The blob's name exists already: left by an interrupted earlier attempt, it is the same file as
 * the partial (nothing to do). Otherwise it is made the partial's in one atomic rename, so that no
 * moment exists in which the name is gone: another writer may be completing the same session.
 */
async function relink(partial: string, target: string): Promise<void> {
  const [a, b] = await Promise.all([stat(partial), stat(target)]).catch((err: unknown) => {
    throw errorCode(err) === "ENOENT" ? new BlobMissingError(`partial content of blob ${path.basename(target)}`) : err;
  });
  if (a.ino === b.ino && a.dev === b.dev) return;
  const temporary = `${target}.${randomUUID()}`;
  await link(partial, temporary);
  await rename(temporary, target).catch(async (err: unknown) => {
    await rm(temporary, { force: true });
    throw err;
  });
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The errno values of a directory store's failures: a full or failing disk, no file handles left. */
function classifyFileSystemError(err: unknown): StoreFailure | undefined {
  const code = errorCode(err);
  if (code === "ENOSPC" || code === "EDQUOT") return { kind: "full", store: "content", code };
  // The disk failed or went read-only, or the process ran out of file handles.
  if (code === "EIO" || code === "EROFS" || code === "EMFILE" || code === "ENFILE" || code === "ESTALE")
    return { kind: "unavailable", store: "content", code };
  return undefined;
}
