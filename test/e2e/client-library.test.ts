/**
 * The client library (`files-service/client`) against the real server process, through a proxy that
 * cuts the connection at random points several times in one upload and one download, over each
 * protocol: the library must finish with the right SHA-256, and the proxy's and server's counts must
 * show that it resumed rather than started over.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import {
  createFilesClient,
  type FilesClient,
  type FilesClientOptions,
  partPath,
  type RetryEvent,
} from "../../src/client/index.js";
import { startCuttingProxy } from "../support/cutting-proxy.js";
import { sessionLockHolder, type TestDatabase } from "../support/database.js";
import { type KeyedServer, type ServerProcess, startKeyedServer } from "../support/server-process.js";
import { eventually } from "../support/uploads.js";

const MiB = 1024 * 1024;
const apiKey = "client-library-test-key-0123456789";

let keyed: KeyedServer;
let db: TestDatabase;
let dir: string;
let server: ServerProcess;
let content: Buffer;
let source: string;
let sha256: string;

beforeAll(async () => {
  // Frequent checkpoints, so that a cut request has committed most of what it sent.
  keyed = await startKeyedServer("client", apiKey, { CHECKPOINT_BYTES: "1MiB" });
  ({ db, dir, server } = keyed);
  content = randomBytes(20 * MiB);
  sha256 = createHash("sha256").update(content).digest("hex");
  source = path.join(dir, "source.bin");
  await writeFile(source, content);
});
afterAll(() => keyed?.stop());

/** How many of this process's file descriptors have `file` open (a read left running keeps one). */
async function openHandles(file: string): Promise<number> {
  let open = 0;
  for (const fd of await readdir("/proc/self/fd"))
    open += await readlink(`/proc/self/fd/${fd}`).then(
      (target) => (target === file ? 1 : 0),
      () => 0,
    );
  return open;
}

const clients: FilesClient[] = [];
// Each test's clients let go of their connections: an HTTP/2 session left with unread data can
// keep Node from exiting at the end of the run.
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(port: number, options: Partial<FilesClientOptions> = {}) {
  const made = createFilesClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey, ...options });
  clients.push(made);
  return made;
}

/**
 * Records the offset each UploadContent and DownloadFile request starts at, as the client sends it:
 * a request after a cut that starts past 0 is a resume, one that starts at 0 would be a restart.
 */
function recordStarts(starts: { rpc: string; offset: number }[]): Interceptor {
  return (next) => async (req) => {
    const rpc = req.method.name;
    if (!req.stream || (rpc !== "UploadContent" && rpc !== "DownloadFile")) return next(req);
    // Both are streaming methods, whose requests are streams (of one message for DownloadFile).
    const messages = req.message as AsyncIterable<{ offset?: bigint }>;
    const recorded = (async function* () {
      let first = true;
      for await (const message of messages) {
        if (first) starts.push({ rpc, offset: Number(message.offset ?? 0n) });
        first = false;
        yield message;
      }
    })();
    return next({ ...req, message: recorded as typeof req.message });
  };
}

/**
 * The starts of one RPC's requests: at least two, the first at 0, never going back, and at least
 * one past 0 (a resume; a cut before anything was committed rightly starts at 0 again).
 */
function resumedStarts(starts: { rpc: string; offset: number }[], rpc: string): number[] {
  const offsets = starts.filter((s) => s.rpc === rpc).map((s) => s.offset);
  expect(offsets.length).toBeGreaterThanOrEqual(2);
  expect(offsets[0]).toBe(0);
  expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  expect(offsets.filter((offset) => offset > 0).length).toBeGreaterThanOrEqual(1);
  return offsets;
}

const transports: [string, Partial<FilesClientOptions>][] = [
  ["gRPC (HTTP/2)", { protocol: "grpc" }],
  ["Connect (HTTP/1.1)", { protocol: "connect", httpVersion: "1.1" }],
  ["Connect (HTTP/2)", { protocol: "connect", httpVersion: "2" }],
  ["gRPC-Web (HTTP/1.1)", { protocol: "grpc-web", httpVersion: "1.1" }],
];

test.each(transports.map(([name, options], i) => [name, options, i] as const))(
  "%s: an upload and a download each cut 3 times finish with the right sha256, resuming each time",
  async (name, options, i) => {
    const proxy = await startCuttingProxy(server.port, {
      seed: 1000 + i,
      maxCuts: 3,
      minBytes: MiB,
      maxBytes: 5 * MiB,
    });
    try {
      const starts: { rpc: string; offset: number }[] = [];
      const files = client(proxy.port, { ...options, interceptors: [recordStarts(starts)] });
      const key = `cut-${i}.bin`;
      const uploadRetries: RetryEvent[] = [];
      const file = await files.uploadFile(source, {
        bucket: "client",
        key,
        sha256: true,
        onRetry: (event) => uploadRetries.push(event),
        retry: { initialDelayMs: 20 },
      });
      expect(file.sha256).toBe(sha256);
      expect(Number(file.bytes)).toBe(content.length);
      // Every cut request let go of the source: no read of it is left open.
      expect(await openHandles(source)).toBe(0);
      const uploadCuts = (await proxy.counts()).cuts;
      expect(uploadCuts).toBe(3);
      expect(uploadRetries.length).toBeGreaterThanOrEqual(uploadCuts);
      // Cut calls were tried again, and UploadContent resumed past 0.
      const uploads = resumedStarts(starts, "UploadContent");

      await proxy.rearm(3);
      const downloadRetries: RetryEvent[] = [];
      const destination = path.join(dir, `down-${i}.bin`);
      const info = await files.downloadFile({ bucket: "client", key }, destination, {
        onRetry: (event) => downloadRetries.push(event),
        retry: { initialDelayMs: 20 },
      });
      expect(info.sha256).toBe(sha256);
      expect(
        createHash("sha256")
          .update(await readFile(destination))
          .digest("hex"),
      ).toBe(sha256);
      const { cuts, connections } = await proxy.counts();
      const downloadCuts = cuts - uploadCuts;
      expect(downloadCuts).toBe(3);
      expect(downloadRetries.length).toBeGreaterThanOrEqual(downloadCuts);
      const downloads = resumedStarts(starts, "DownloadFile");
      console.log(
        `${name}: proxy ${connections} connections, ${uploadCuts} + ${downloadCuts} cuts; ` +
          `upload: ${uploadRetries.length} retries, UploadContent from offsets ${uploads.join(", ")}; ` +
          `download: ${downloadRetries.length} retries, DownloadFile from offsets ${downloads.join(", ")}`,
      );
    } finally {
      await proxy.close();
    }
  },
  120_000,
);

test("a Node stream resumes from the bytes it still holds after cuts", async () => {
  const proxy = await startCuttingProxy(server.port, { seed: 7, maxCuts: 2, minBytes: MiB, maxBytes: 4 * MiB });
  try {
    const stream = createReadStream(source).pipe(new PassThrough());
    const retries: RetryEvent[] = [];
    const file = await client(proxy.port).uploadFile(stream, {
      bucket: "client",
      key: "from-stream.bin",
      size: content.length,
      sha256,
      onRetry: (event) => retries.push(event),
      retry: { initialDelayMs: 20 },
    });
    expect(file.sha256).toBe(sha256);
    expect((await proxy.counts()).cuts).toBe(2);
    expect(retries.length).toBeGreaterThanOrEqual(2);
  } finally {
    await proxy.close();
  }
});

test("a Blob and a web ReadableStream upload too", async () => {
  const files = client(server.port);
  const small = content.subarray(0, 3 * MiB + 17);
  const smallSha = createHash("sha256").update(small).digest("hex");
  const fromBlob = await files.uploadFile(new Blob([small]), { bucket: "client", key: "blob.bin", sha256: true });
  expect(fromBlob.sha256).toBe(smallSha);
  const web = Readable.toWeb(Readable.from([small])) as ReadableStream<Uint8Array>;
  const fromWeb = await files.uploadFile(web, { bucket: "client", key: "web.bin", size: small.length });
  expect(fromWeb.sha256).toBe(smallSha);
  const empty = await files.uploadFile(new Blob([]), { bucket: "client", key: "empty.bin", sha256: true });
  expect(empty.bytes).toBe(0n);
});

test("an aborted upload stops with Canceled and resumes later from its session", async () => {
  const files = client(server.port);
  const stop = new AbortController();
  let uploadId = "";
  const failure = await files
    .uploadFile(source, {
      bucket: "client",
      key: "aborted.bin",
      signal: stop.signal,
      onSession: (session) => {
        uploadId = session.id;
      },
      onProgress: (p) => {
        if (p.sent >= 6 * MiB) stop.abort();
      },
    })
    .catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(ConnectError);
  expect((failure as ConnectError).code).toBe(Code.Canceled);
  expect(await openHandles(source)).toBe(0);
  // The server commits what the cancelled request brought once it notices; then the offset is final.
  await eventually(async () => (await sessionLockHolder(db.sql, uploadId)) === undefined, 10_000, "the lock is free");
  const { session } = await files.service.getUploadSession({ uploadId });
  expect(session!.complete).toBe(false);
  expect(Number(session!.offset)).toBeGreaterThan(0);

  let firstCommitted = -1;
  const file = await files.uploadFile(source, {
    bucket: "client",
    key: "aborted.bin",
    uploadId,
    onProgress: (p) => {
      if (firstCommitted < 0) firstCommitted = p.committed;
    },
  });
  expect(file.sha256).toBe(sha256);
  expect(firstCommitted).toBe(Number(session!.offset));
});

test("a wrong API key fails at once with Unauthenticated, without retrying", async () => {
  const retries: RetryEvent[] = [];
  const failure = await client(server.port, { apiKey: "not-the-key-0123456789" })
    .uploadFile(source, { bucket: "client", key: "nope.bin", onRetry: (e) => retries.push(e) })
    .catch((err: unknown) => err);
  expect((failure as ConnectError).code).toBe(Code.Unauthenticated);
  expect(retries).toEqual([]);
});

test("a download resumes from a part file of the same version, and refuses content that does not match", async () => {
  const starts: { rpc: string; offset: number }[] = [];
  const files = client(server.port, { interceptors: [recordStarts(starts)] });
  await files.uploadFile(source, { bucket: "client", key: "resume.bin" });
  const destination = path.join(dir, "resumed.bin");
  await writeFile(partPath(destination, sha256), content.subarray(0, 5 * MiB));
  let resumedFrom = -1;
  await files.downloadFile({ bucket: "client", key: "resume.bin" }, destination, {
    onInfo: (_file, from) => {
      resumedFrom = from;
    },
  });
  expect(resumedFrom).toBe(5 * MiB);
  expect(starts.filter((s) => s.rpc === "DownloadFile")).toEqual([{ rpc: "DownloadFile", offset: 5 * MiB }]);
  expect((await readFile(destination)).equals(content)).toBe(true);
  await expect(stat(partPath(destination, sha256))).rejects.toThrow(/ENOENT/);

  // Bytes on disk that are not the file's: caught by the sha256 at the end, and thrown away.
  const other = path.join(dir, "other.bin");
  await writeFile(partPath(other, sha256), randomBytes(MiB));
  const failure = await files.downloadFile({ bucket: "client", key: "resume.bin" }, other).catch((err) => err);
  expect((failure as ConnectError).code).toBe(Code.DataLoss);
  await expect(stat(partPath(other, sha256))).rejects.toThrow(/ENOENT/);
  await expect(stat(other)).rejects.toThrow(/ENOENT/);
});
