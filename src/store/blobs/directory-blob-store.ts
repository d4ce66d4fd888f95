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
import { BlobMissingError, contentIdPattern, type BlobStore, type StoreOwner } from "./blob-store.js";
import { errorCode, type StoreFailure } from "../store-failures.js";
import { createFileAppender } from "./file-appender.js";
import { readFileRange } from "./file-range.js";

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
        return createFileAppender(handle, offset);
      } catch (err) {
        await handle.close();
        throw err;
      }
    },

    readPartial: (uploadId, start, end) =>
      readFileRange(partialPath(uploadId), start, end, `partial content of upload ${uploadId}`),

    partialSize: (uploadId) => sizeOf(partialPath(uploadId)),

    async commit(uploadId, length) {
      const target = blobPath(uploadId);
      await cutToLength(partialPath(uploadId), length, uploadId);
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

    read: (blobId, start, end) => readFileRange(blobPath(blobId), start, end, `content of blob ${blobId}`),

    size: (blobId) => sizeOf(blobPath(blobId)),

    delete: (blobId) => rm(blobPath(blobId), { force: true }),

    listPartials,

    listBlobs,

    classifyError: classifyFileSystemError,
  };
}

/**
 * Makes the partial content exactly `length` bytes: bytes past it were never counted (the writer
 * cuts them off anyway when it opens the content). A missing file is left to the link to report.
 */
async function cutToLength(file: string, length: number, uploadId: string): Promise<void> {
  const size = await sizeOf(file);
  if (size === undefined || size === length) return;
  if (size < length)
    throw new BlobMissingError(`committed content of upload ${uploadId} (has ${size} of ${length} bytes)`);
  const handle = await open(file, constants.O_WRONLY);
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
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
