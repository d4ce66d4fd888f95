/**
 * A BlobStore that wraps a real one and fails chosen operations on demand, the way a full or failing
 * disk does: ENOSPC or EIO errors shaped like Node's own (code, errno, syscall, and the file's path
 * in the message, so that tests can check the path never reaches a client). It also records what
 * was proven durable, so tests can check that no offset is ever committed past an fsync.
 */
import path from "node:path";
import type { BlobAppender, BlobStore } from "../../src/store/blobs/blob-store.js";

/** The operations a fault can hit. */
export type FaultOp =
  | "openAppend"
  | "write"
  | "sync"
  | "truncate"
  | "commit"
  | "discardPartial"
  | "read"
  | "readPartial"
  | "delete";

/** The disk errors a fault raises. */
export type FaultCode = "ENOSPC" | "EIO";

/** One fault: which calls it hits and what happens to them. */
export interface Fault {
  op: FaultOp;
  /** The error the call fails with (default EIO). */
  code?: FaultCode;
  /**
   * "before": fail without doing anything (default). "after": do it, then fail (an fsync that
   * reported an error, a link whose directory fsync failed). "partial": do half of it, then fail
   * (a torn write: half the chunk lands; a read: the first chunk arrives, then the error).
   */
  stage?: "before" | "after" | "partial";
  /** Calls of `op` that pass before this fault starts hitting. */
  skip?: number;
  /** How many calls it hits (default: every call until cleared). */
  times?: number;
  /** Run instead of throwing (e.g. SIGKILL the process at exactly this point). */
  effect?: () => void;
}

/** The wrapper and its controls. */
export interface FaultyBlobStore {
  store: BlobStore;
  /** Adds a fault; faults are checked in the order they were added. */
  inject(fault: Fault): void;
  /** Removes every fault: the disk is healthy again. */
  clear(): void;
  /** How many calls faults have hit so far. */
  readonly hits: number;
  /** The largest offset of a session's partial content proven durable by a successful sync. */
  durableOffset(uploadId: string): number;
}

const messages: Record<FaultCode, [errno: number, text: string]> = {
  ENOSPC: [-28, "no space left on device"],
  EIO: [-5, "i/o error"],
};

/** An error shaped like the one Node's fs raises for `code`, naming `file`. */
export function errnoError(code: FaultCode, syscall: string, file: string): NodeJS.ErrnoException {
  const [errno, text] = messages[code];
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${file}'`), { code, errno, syscall, path: file });
}

/** Wraps `inner`; `root` is only used to put realistic paths into the errors. */
export function createFaultyBlobStore(inner: BlobStore, root = "/var/lib/files-service/blobs"): FaultyBlobStore {
  const faults: (Fault & { seen: number; hit: number })[] = [];
  const durable = new Map<string, number>();
  let hits = 0;

  /** The fault that hits this call of `op`, if any (counting the call either way). */
  function faultFor(op: FaultOp): (Fault & { seen: number; hit: number }) | undefined {
    for (const fault of faults) {
      if (fault.op !== op) continue;
      fault.seen++;
      if (fault.seen <= (fault.skip ?? 0) || fault.hit >= (fault.times ?? Infinity)) continue;
      fault.hit++;
      hits++;
      return fault;
    }
    return undefined;
  }

  function fail(fault: Fault, syscall: string, id: string): never {
    fault.effect?.();
    throw errnoError(fault.code ?? "EIO", syscall, path.join(root, "partial", id));
  }

  /** Runs `action` under a possible fault of `op`. */
  async function guarded<T>(op: FaultOp, syscall: string, id: string, action: () => Promise<T>): Promise<T> {
    const fault = faultFor(op);
    if (!fault) return action();
    if (fault.stage === "after") await action();
    fail(fault, syscall, id);
  }

  async function* guardedRead(
    op: FaultOp,
    id: string,
    chunks: () => AsyncIterable<Uint8Array>,
  ): AsyncIterable<Uint8Array> {
    const fault = faultFor(op);
    if (!fault) return yield* chunks();
    if (fault.stage === "partial" || fault.stage === "after") {
      for await (const chunk of chunks()) {
        yield chunk;
        break;
      }
    }
    fail(fault, "read", id);
  }

  function wrapAppender(id: string, appender: BlobAppender, start: number): BlobAppender {
    let written = start; // end of the writes that completed (the caller awaits them all before sync)
    return {
      async write(data) {
        const fault = faultFor("write");
        if (!fault) {
          await appender.write(data);
          written += data.byteLength;
          return;
        }
        if (fault.stage === "partial") await appender.write(data.subarray(0, data.byteLength >> 1));
        if (fault.stage === "after") await appender.write(data);
        fail(fault, "write", id);
      },
      checkpointAlignment: appender.checkpointAlignment,
      async sync(length) {
        const at = written;
        await guarded("sync", "fdatasync", id, () => appender.sync(length));
        durable.set(id, Math.max(durable.get(id) ?? 0, at));
      },
      async truncate(length) {
        await guarded("truncate", "ftruncate", id, () => appender.truncate(length));
        written = length;
      },
      close: () => appender.close(),
    };
  }

  const store: BlobStore = {
    readOwner: () => inner.readOwner(),
    claimOwner: (owner) => inner.claimOwner(owner),
    isEmpty: () => inner.isEmpty(),
    async openAppend(uploadId, offset, declaredSize) {
      const appender = await guarded("openAppend", "open", uploadId, () =>
        inner.openAppend(uploadId, offset, declaredSize),
      );
      // What was committed before was fsynced by an earlier request (or process).
      durable.set(uploadId, Math.max(durable.get(uploadId) ?? 0, offset));
      return wrapAppender(uploadId, appender, offset);
    },
    ...(inner.readPartial
      ? {
          readPartial: (uploadId: string, start: number, end: number) =>
            guardedRead("readPartial", uploadId, () => inner.readPartial!(uploadId, start, end)),
        }
      : {}),
    partialSize: (uploadId) => inner.partialSize(uploadId),
    commit: (uploadId, length) => guarded("commit", "link", uploadId, () => inner.commit(uploadId, length)),
    discardPartial: (uploadId) => guarded("discardPartial", "unlink", uploadId, () => inner.discardPartial(uploadId)),
    read: (blobId, start, end) => guardedRead("read", blobId, () => inner.read(blobId, start, end)),
    size: (blobId) => inner.size(blobId),
    delete: (blobId) => guarded("delete", "unlink", blobId, () => inner.delete(blobId)),
    listPartials: () => inner.listPartials(),
    listBlobs: () => inner.listBlobs(),
    classifyError: (err) => inner.classifyError(err),
  };

  return {
    store,
    inject: (fault) => void faults.push({ ...fault, seen: 0, hit: 0 }),
    clear: () => void faults.splice(0),
    get hits() {
      return hits;
    },
    durableOffset: (uploadId) => durable.get(uploadId) ?? 0,
  };
}
