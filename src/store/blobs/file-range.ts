/**
 * Ranged reads of a content file, in chunks that grow while the reader keeps up.
 */
import { constants } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { errorCode } from "../store-failures.js";
import { BlobMissingError } from "./blob-store.js";

// Content is read in chunks that start small and double, up to the largest, while the reader keeps
// asking; the next chunk is read while the reader handles the one before. A fast reader soon gets
// large chunks (1 MiB reads serve a REST download at three times the rate of 128 KiB ones, mostly
// by sparing the garbage collector), while one that stops reading, as a client that opens hundreds
// of HTTP/2 downloads and reads none, holds no more than a few small ones.
const firstReadBytes = 64 * 1024;
const largestReadBytes = 1024 * 1024;

/**
 * Bytes [start, end) of `file`; BlobMissingError (naming `what`) if there is no such file. A file
 * shorter than `end` yields what it has: the caller counts.
 */
export async function* readFileRange(
  file: string,
  start: number,
  end: number,
  what: string,
): AsyncIterable<Uint8Array> {
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
