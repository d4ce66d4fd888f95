/**
 * What an upload reads from, behind one interface that can start again at any offset: a resumed
 * upload re-reads its source from the offset the server committed.
 *
 * - A path is opened again at the offset (and can be hashed in a first pass).
 * - A Blob is sliced at the offset (and can be hashed in a first pass).
 * - A Node stream or a web ReadableStream can be read only once. It keeps the last
 *   `streamReplayBytes` it read, and resumes from those; when the server committed less than what
 *   is still kept (a cut that lost more than that in flight), the upload fails saying so, as it
 *   cannot be resumed. Its size must be given, since a session is created with its size.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";

/** A source of upload content: a file path, a Node stream, a Blob (or File), or a web ReadableStream. */
// What a stream keeps to resume from: more than a server may have received but not yet committed
// when a connection breaks (an HTTP/2 stream window of 16 MiB, the message in flight, the checkpoint
// interval's worth not yet synced), with room to spare.
const defaultReplayBytes = 40 * 1024 * 1024;

export type UploadInput = string | Readable | Blob | ReadableStream<Uint8Array>;

/** A source that can be read from any offset (within what it still holds). */
export interface UploadSource {
  /** The size in bytes, when the source knows it (a path or a Blob). */
  readonly size: number | undefined;
  /** The bytes from `offset` to the end, in chunks of at most the chunk size. */
  read(offset: number): AsyncIterable<Uint8Array>;
  /** Lowercase hex SHA-256 of the whole content, read in a pass of its own. */
  sha256(): Promise<string>;
}

/** Why a source cannot give what an upload needs (not retryable). */
export class UploadSourceError extends Error {
  override name = "UploadSourceError";
}

/** How sources cut and keep content. */
export interface SourceOptions {
  /** Largest chunk handed to the transport (one upload message). */
  chunkBytes: number;
  /** Bytes a stream source keeps to resume from (default 40 MiB). */
  streamReplayBytes?: number;
}

/** Opens `input` as an UploadSource. A path is stat'ed now, so its size is known. */
export async function openUploadSource(input: UploadInput, options: SourceOptions): Promise<UploadSource> {
  if (typeof input === "string") return pathSource(input, (await stat(input)).size, options.chunkBytes);
  if (input instanceof Blob) return blobSource(input, options.chunkBytes);
  return streamSource(input, options.chunkBytes, options.streamReplayBytes ?? defaultReplayBytes);
}

function pathSource(file: string, size: number, chunkBytes: number): UploadSource {
  // `end` bounds the read at the size the session was made for, so a file that grows meanwhile
  // still ends where it should; one that shrinks ends short, which the upload notices.
  const open = (start: number) =>
    createReadStream(file, { start, end: Math.max(size - 1, 0), highWaterMark: chunkBytes });
  return {
    size,
    read: (offset) => (offset >= size ? empty() : open(offset)),
    sha256: () => hashOf(size === 0 ? empty() : open(0)),
  };
}

function blobSource(blob: Blob, chunkBytes: number): UploadSource {
  return {
    size: blob.size,
    read: (offset) => limitChunks(blob.slice(offset).stream(), chunkBytes),
    sha256: () => hashOf(blob.stream()),
  };
}

/**
 * A read-once stream with a replay buffer. Pulls from the stream are serialised and every chunk
 * pulled is kept before it is handed out, so that a reader abandoned mid-pull (a call that broke)
 * and the reader of the next try never see the stream out of order.
 */
function streamSource(stream: Readable | ReadableStream<Uint8Array>, chunkBytes: number, keep: number): UploadSource {
  const iterator = (stream as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const kept: Uint8Array[] = [];
  let keptStart = 0; // offset of kept[0]
  let consumed = 0; // bytes pulled from the stream so far
  let ended = false;
  let pulling = Promise.resolve();

  const pull = () => {
    pulling = pulling.then(async () => {
      if (ended) return;
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        return;
      }
      const chunk = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
      kept.push(chunk);
      consumed += chunk.byteLength;
      let keptBytes = consumed - keptStart;
      while (kept.length > 1 && keptBytes - kept[0].byteLength >= keep) {
        keptStart += kept[0].byteLength;
        keptBytes -= kept.shift()!.byteLength;
      }
    });
    return pulling;
  };

  async function* read(offset: number): AsyncIterable<Uint8Array> {
    for (let position = offset; ; ) {
      while (position >= consumed && !ended) await pull();
      if (position >= consumed) return;
      // Checked on every turn: a pull by an abandoned reader may have let go of older chunks.
      if (position < keptStart) {
        throw new UploadSourceError(
          `cannot resume a stream at byte ${position}: only bytes from ${keptStart} on are still held ` +
            `(streamReplayBytes); upload from a path or a Blob to resume from anywhere`,
        );
      }
      // Find the kept chunk that holds `position`.
      let start = keptStart;
      let i = 0;
      while (start + kept[i].byteLength <= position) start += kept[i++].byteLength;
      const chunk = kept[i].subarray(position - start);
      for (let at = 0; at < chunk.byteLength; at += chunkBytes) {
        const piece = chunk.subarray(at, at + chunkBytes);
        position += piece.byteLength;
        yield piece;
      }
    }
  }

  return {
    size: undefined,
    read,
    sha256: () =>
      Promise.reject(new UploadSourceError("sha256: true needs a path or a Blob; give a stream's digest in hex")),
  };
}

/** Splits chunks larger than `chunkBytes` (without copying). */
async function* limitChunks(chunks: AsyncIterable<Uint8Array>, chunkBytes: number): AsyncIterable<Uint8Array> {
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.byteLength; at += chunkBytes) yield chunk.subarray(at, at + chunkBytes);
  }
}

async function* empty(): AsyncIterable<Uint8Array> {}

async function hashOf(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}
