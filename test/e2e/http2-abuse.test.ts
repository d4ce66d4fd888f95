/**
 * What one HTTP/2 client can make the server hold, and how cheaply it can make it work:
 * - the server announces how many streams a connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS,
 *   100 by default) and refuses streams beyond it (REFUSED_STREAM) instead of serving them;
 * - a download the client does not read holds about half a MiB of the server's memory, not MiBs:
 *   the server reads ahead of what the connection accepted by one small chunk;
 * - a client that resets the streams it opens (rapid reset) starts no handler for a stream reset in
 *   the packet that opened it, is told to go away (GOAWAY ENHANCE_YOUR_CALM) long before it has
 *   cost much, and leaves no handler behind.
 * The memory test runs the server as a child process, so that its RSS is its own.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { openBlobFiles } from "../support/open-files.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { content, eventually, uploadFile } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Opens `count` downloads of `target` on `session` that are never read; answers them. */
function unreadDownloads(session: http2.ClientHttp2Session, target: string, count: number): http2.ClientHttp2Stream[] {
  return Array.from({ length: count }, () => {
    const stream = session.request({ ":path": target });
    stream.on("error", () => undefined); // refused or cut on purpose
    stream.pause();
    return stream;
  });
}

/**
 * A client that does not hold back: it opens its streams before it knows the server's limit (Node's
 * client would otherwise queue them itself). Each stream may receive 16 KiB, far less than a read
 * chunk, and the connection enough for 100 of them, so every stream gets its first bytes.
 */
function greedyClient(baseUrl: string): http2.ClientHttp2Session {
  const session = http2.connect(baseUrl, {
    peerMaxConcurrentStreams: 10_000,
    settings: { initialWindowSize: 16 * KiB },
  });
  session.once("connect", () => session.setLocalWindowSize(4 * MiB));
  session.on("error", () => undefined);
  return session;
}

describe("in process", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await uploadFile(t.client("grpc (HTTP/2)"), "abuse", "file.bin", content(4 * MiB), { chunkSize: MiB });
  });
  afterAll(() => t?.close());

  test("the server's SETTINGS limit a connection to 100 concurrent streams", async () => {
    const session = http2.connect(t.baseUrl);
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    session.close();
  });

  test("streams beyond the limit are refused with REFUSED_STREAM, not served", async () => {
    const session = greedyClient(t.baseUrl);
    const streams = unreadDownloads(session, "/v1/files/abuse/file.bin:content", 150);
    let answered = 0;
    for (const stream of streams) stream.once("response", () => answered++);
    const refused = () => streams.filter((s) => s.closed && s.rstCode === NGHTTP2_REFUSED_STREAM).length;
    await eventually(() => answered + refused() === 150, 10_000, "every stream is answered or refused");
    expect({ answered, refused: refused() }).toEqual({ answered: 100, refused: 50 });
    expect(t.app.runningHandlers()).toBe(100);
    session.destroy();
    await eventually(() => t.app.runningHandlers() === 0, 2000, "the handlers of the cut streams have ended");
  });

  test("a client that resets every stream it opens (rapid reset) starts almost no handler, is sent GOAWAY ENHANCE_YOUR_CALM, and leaves none running", async () => {
    const session = http2.connect(t.baseUrl);
    session.on("error", () => undefined);
    let goaway: number | undefined;
    session.once("goaway", (code: number) => (goaway = code));
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    // HEADERS and RST_STREAM back to back, as fast as the client goes, until the server says stop
    // (nghttp2's own limit would say it with INTERNAL_ERROR after about 1000).
    let opened = 0;
    let mostRunning = 0;
    while (goaway === undefined && !session.destroyed && opened < 2000) {
      for (let i = 0; i < 20; i++, opened++) {
        const stream = session.request({ ":path": "/v1/files/abuse/file.bin:content" });
        stream.on("error", () => undefined);
        stream.close(NGHTTP2_CANCEL);
      }
      await new Promise((resolve) => setImmediate(resolve));
      mostRunning = Math.max(mostRunning, t.app.runningHandlers());
    }
    await eventually(() => goaway !== undefined, 2000, "the server sent GOAWAY");
    expect(goaway).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(opened).toBeLessThan(500);
    // A stream reset in the packet that opened it never reaches a handler; when each one did, about
    // 100 handlers ran at once here.
    expect(mostRunning).toBeLessThan(20);
    await eventually(() => t.app.runningHandlers() === 0, 2000, "no handler is left running");
    // The service answers as before, on another connection.
    expect((await t.client("grpc (HTTP/2)").getFile({ bucket: "abuse", key: "file.bin" })).file?.bytes).toBe(
      BigInt(4 * MiB),
    );
    session.destroy();
  });
});

describe("a server process", () => {
  let db: TestDatabase;
  let blobDir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    db = await createTestDatabase();
    blobDir = await mkdtemp(path.join(tmpdir(), "files-h2-abuse-"));
    server = await startServerProcess({ DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema, BLOB_DIR: blobDir });
    await uploadFile(server.client, "abuse", "file.bin", content(16 * MiB), { chunkSize: MiB });
  });
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await server?.exited;
    await db?.drop();
    await rm(blobDir, { recursive: true, force: true });
  });

  async function rssMiB(): Promise<number> {
    const status = await readFile(`/proc/${server.child.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  }

  test("500 unread downloads (5 connections of 100) hold less than 400 MiB of the server's memory, and none after their connections go", async () => {
    const baseUrl = `http://127.0.0.1:${server.port}`;
    // Warm-up: the first requests load code and grow V8's heap whatever they do.
    const warm = greedyClient(baseUrl);
    const warmStreams = unreadDownloads(warm, "/v1/files/abuse/file.bin:content", 20);
    await eventually(() => warmStreams.every((s) => s.readableLength > 0), 10_000, "the warm-up streams have data");
    warm.destroy();
    await eventually(
      async () => (await openBlobFiles(blobDir, server.child.pid!)).count === 0,
      5000,
      "the warm-up streams have ended",
    );

    const before = await rssMiB();
    const sessions = Array.from({ length: 5 }, () => greedyClient(baseUrl));
    const streams = sessions.flatMap((session) => unreadDownloads(session, "/v1/files/abuse/file.bin:content", 100));
    // Every stream has its first bytes: its handler has read from its file and wrote what fit.
    await eventually(() => streams.every((s) => s.readableLength > 0), 20_000, "every stream has data");
    expect((await openBlobFiles(blobDir, server.child.pid!)).count).toBe(500);
    // Reading ahead stops once the socket takes no more: wait until the RSS stops growing.
    let last = await rssMiB();
    await eventually(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const now = await rssMiB();
        const settled = now - last < 2;
        last = now;
        return settled;
      },
      15_000,
      "the server's RSS is steady",
    );
    const growth = last - before;
    console.log(
      `500 unread HTTP/2 downloads: server RSS ${before.toFixed(0)} MiB before, +${growth.toFixed(0)} MiB (${((growth * 1024) / 500).toFixed(0)} KiB a stream)`,
    );
    expect(growth).toBeLessThan(400); // 1 MiB chunks read 1 MiB ahead held 2.3 GB

    for (const session of sessions) session.destroy();
    await eventually(
      async () => (await openBlobFiles(blobDir, server.child.pid!)).count === 0,
      2000,
      "every file is closed",
    );
  }, 90_000);
});
