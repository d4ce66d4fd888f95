/**
 * Upload sources re-read from any offset: a path and a Blob from anywhere, a read-once stream from
 * the bytes it still holds, and it says so clearly when it cannot.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { openUploadSource, UploadSourceError } from "../../../src/client/upload-source.js";

const KiB = 1024;
const data = randomBytes(300 * KiB);

async function collect(chunks: AsyncIterable<Uint8Array>, limit = Infinity): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    bytes += chunk.byteLength;
    if (bytes >= limit) break;
  }
  return Buffer.concat(parts);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "upload-source-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test("a path and a Blob read from any offset, in chunks of at most the chunk size", async () => {
  const file = path.join(dir, "data.bin");
  await writeFile(file, data);
  for (const input of [file, new Blob([data])]) {
    const source = await openUploadSource(input, { chunkBytes: 64 * KiB });
    expect(source.size).toBe(data.length);
    for (const offset of [0, 1, 100 * KiB + 3, data.length]) {
      const read = await collect(source.read(offset));
      expect(read.equals(data.subarray(offset))).toBe(true);
    }
    const sizes: number[] = [];
    for await (const chunk of source.read(0)) sizes.push(chunk.byteLength);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64 * KiB);
  }
});

test("a stream resumes from the bytes it still holds, in order, even after an abandoned read", async () => {
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += 10 * KiB) yield data.subarray(i, i + 10 * KiB);
    })(),
  );
  const source = await openUploadSource(stream, { chunkBytes: 4 * KiB, streamReplayBytes: 50 * KiB });
  expect(source.size).toBeUndefined();
  // A try that reads 120 KiB and is abandoned (its call broke) …
  expect((await collect(source.read(0), 120 * KiB)).equals(data.subarray(0, 120 * KiB))).toBe(true);
  // … and the next one, from an offset still held, gets every byte from there on.
  expect((await collect(source.read(90 * KiB))).equals(data.subarray(90 * KiB))).toBe(true);
});

test("a stream refuses to resume before the bytes it still holds, saying why", async () => {
  const source = await openUploadSource(Readable.from([data]), { chunkBytes: 64 * KiB, streamReplayBytes: 0 });
  await collect(source.read(0), 200 * KiB);
  const resume = collect(source.read(10 * KiB));
  // The whole 300 KiB came as one chunk and is still held (a chunk is never split to let go of it).
  await expect(resume).resolves.toEqual(data.subarray(10 * KiB));

  const chunked = Readable.from([data.subarray(0, 100 * KiB), data.subarray(100 * KiB)]);
  const later = await openUploadSource(chunked, { chunkBytes: 64 * KiB, streamReplayBytes: 10 * KiB });
  await collect(later.read(0));
  await expect(collect(later.read(5 * KiB))).rejects.toThrow(UploadSourceError);
  await expect(collect(later.read(5 * KiB))).rejects.toThrow(/only bytes from 102400 on are still held/);
  await expect(later.sha256()).rejects.toThrow(/needs a path or a Blob/);
});
