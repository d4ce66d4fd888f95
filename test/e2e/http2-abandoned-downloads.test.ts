/**
 * REST downloads over HTTP/2 that their client abandons — its stream reset, its connection
 * destroyed, its stream idle past the timeout, curl killed midway — end their handler and close
 * their file at once. Nothing keeps running or holds the file: a DELETE then frees its space for
 * real, and shutdown has nothing to wait for.
 *
 * The moment that matters is a client leaving while the handler is between two chunks (reading the
 * file): the next chunk then meets a response that is already closed. The store of these tests can
 * hold reads after a first chunk, so that the client leaves exactly then.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import http2 from "node:http2";
import type { BlobStore } from "../../src/store/blobs/blob-store.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import { committedBlobs, openBlobFiles } from "../support/open-files.js";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { content, eventually, uploadFile } from "../support/uploads.js";

const MiB = 1024 * 1024;
const bucket = "abandoned";
const contentPath = (key: string) => `/v1/files/${bucket}/${key}:content`;

/** Reads of the store pass after their first chunk only once this resolves. */
let held: Promise<void> = Promise.resolve();
/** Bytes of the first chunk a read handed out (what a client receives before a held read). */
let firstChunkBytes = 0;

/** From now on reads stop after their first chunk; answers the function that lets them go on. */
function holdReads(): () => void {
  let release!: () => void;
  held = new Promise((resolve) => (release = resolve));
  return release;
}

async function* heldAfterFirstChunk(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let first = true;
  for await (const chunk of chunks) {
    if (first) firstChunkBytes = chunk.byteLength;
    else await held;
    first = false;
    yield chunk;
  }
}

function withHeldReads(store: BlobStore): BlobStore {
  return { ...store, read: (blobId, start, end) => heldAfterFirstChunk(store.read(blobId, start, end)) };
}

// A service of its own for each test: what one test leaves running must not count against the next.
let t: TestApp;
beforeEach(async () => {
  held = Promise.resolve();
  t = await startTestApp({ "idle-timeout-seconds": "1" }, async (config) => ({
    blobs: withHeldReads(await createDirectoryBlobStore(config.blobDir)),
  }));
  await uploadFile(t.client("grpc (HTTP/2)"), bucket, "big.bin", content(64 * MiB), { chunkSize: MiB });
});
afterEach(() => t?.close());

/** Waits (2 s at most) until no handler runs and no blob file is open: what abandoned downloads must leave. */
async function expectAllEnded(): Promise<void> {
  const state = async () =>
    `${t.app.runningHandlers()} handlers running, ${(await openBlobFiles(t.blobDir)).count} blob files open`;
  await eventually(
    async () => (await state()) === "0 handlers running, 0 blob files open",
    2000,
    "every abandoned download has ended",
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}; now ${await state()}`);
  });
}

/** An HTTP/2 client with wide flow-control windows, so that the server sends as fast as it can. */
function fastClient(): http2.ClientHttp2Session {
  const session = http2.connect(t.baseUrl, { settings: { initialWindowSize: 16 * MiB } });
  session.once("connect", () => session.setLocalWindowSize(64 * MiB));
  session.on("error", () => undefined); // destroyed on purpose
  return session;
}

/**
 * Opens `count` downloads of the big file and reads each until its first chunk has arrived: their
 * handlers are then held reading the next one.
 */
async function downloadsHeldAfterFirstChunk(
  session: http2.ClientHttp2Session,
  count: number,
): Promise<http2.ClientHttp2Stream[]> {
  const streams = Array.from({ length: count }, () => {
    const stream = session.request({ ":path": contentPath("big.bin") });
    stream.on("error", () => undefined); // cut on purpose
    return stream;
  });
  await Promise.all(
    streams.map(
      (stream) =>
        new Promise<void>((resolve, reject) => {
          let received = 0;
          stream.on("data", (data: Buffer) => {
            received += data.length;
            if (received === firstChunkBytes) resolve();
          });
          stream.once("close", () => reject(new Error(`the download closed after ${received} bytes`)));
        }),
    ),
  );
  expect(t.app.runningHandlers()).toBe(count);
  return streams;
}

describe("downloads cut off while their handlers read the next chunk end them and close their files", () => {
  test("when the client resets their streams (RST_STREAM CANCEL)", async () => {
    const release = holdReads();
    const session = fastClient();
    const streams = await downloadsHeldAfterFirstChunk(session, 10);
    for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
    // Frames are read in order: once the PING is answered, the server has seen every reset.
    await new Promise((resolve) => session.ping(resolve));
    release();
    await expectAllEnded();
    session.close();
  });

  test("when the client destroys its connection", async () => {
    const release = holdReads();
    const session = fastClient();
    await downloadsHeldAfterFirstChunk(session, 10);
    session.destroy();
    // The connection's end reached the server before this later request did.
    expect((await restCall(t.baseUrl, "GET", "/healthz")).status).toBe(200);
    release();
    await expectAllEnded();
  });

  test("when their streams stay idle past the idle timeout", async () => {
    const release = holdReads();
    const session = fastClient();
    const streams = await downloadsHeldAfterFirstChunk(session, 10);
    // Nothing moves for a second: the server cuts the streams (or their connection).
    await Promise.all(streams.map((stream) => once(stream, "close")));
    release();
    await expectAllEnded();
    session.destroy();
  });
});

test("curl downloads over HTTP/2 killed midway end at once, and a DELETE then frees the file's space", async () => {
  const curls = Array.from({ length: 5 }, () =>
    spawn("curl", ["-sS", "--http2-prior-knowledge", "--limit-rate", "1M", `${t.baseUrl}${contentPath("big.bin")}`], {
      stdio: ["ignore", "pipe", "ignore"],
    }),
  );
  // Each has its first bytes: its handler is reading the file.
  await Promise.all(curls.map((curl) => once(curl.stdout!, "data")));
  for (const curl of curls) curl.stdout!.resume();
  expect(t.app.runningHandlers()).toBe(5);
  expect((await openBlobFiles(t.blobDir)).count).toBe(5);
  for (const curl of curls) curl.kill("SIGKILL");
  await expectAllEnded();

  const [blob] = await committedBlobs(t.blobDir);
  expect((await restCall(t.baseUrl, "DELETE", `/v1/files/${bucket}/big.bin`)).status).toBe(200);
  await t.app.removalsDone(); // the content goes right after the answer
  // The name is gone and no descriptor holds the inode: the file system has its space back.
  expect(await committedBlobs(t.blobDir)).toEqual([]);
  expect((await openBlobFiles(t.blobDir)).inodes).not.toContain(blob.ino);
});
