/**
 * A BlobAppender on an open file: appends at the position each write was made, gathering the writes
 * that queue up while one runs into a single writev.
 */
import type { FileHandle } from "node:fs/promises";
import type { BlobAppender } from "./blob-store.js";

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
export function createFileAppender(handle: FileHandle, start: number): BlobAppender {
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
