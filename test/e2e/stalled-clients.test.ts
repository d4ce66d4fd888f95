/**
 * Clients that stop sending: the connection is closed after the idle timeout (1 s here), the
 * upload keeps every byte that arrived, and its session is free to be resumed at once.
 */
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import net from "node:net";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { sessionLockHolder } from "../support/database.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, download, eventually, sha256 } from "../support/uploads.js";

const KiB = 1024;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    "idle-timeout-seconds": "1",
    "headers-timeout-seconds": "2",
    "checkpoint-bytes": "64KiB",
    "shutdown-grace-seconds": "1",
  });
});
afterAll(() => t?.close());

// A fresh transport per test: its own connection, so no other call keeps it busy.
const stallers: [string, () => Transport][] = [
  ["a gRPC stream (HTTP/2)", () => createGrpcTransport({ baseUrl: t.baseUrl })],
  ["a Connect stream (HTTP/1.1)", () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })],
];

/** Starts an upload that sends `sent` bytes of `data`, then stalls until `release` aborts. */
function stalledUpload(transport: Transport, id: string, data: Buffer, sent: number, release: AbortSignal) {
  async function* stall() {
    yield* chunks(id, data.subarray(0, sent), 50 * KiB);
    await new Promise((resolve) => release.addEventListener("abort", resolve));
  }
  const started = Date.now();
  return createClient(FilesService, transport)
    .uploadContent(stall())
    .then(
      () => ({ err: undefined as unknown, ms: Date.now() - started }),
      (err: unknown) => ({ err, ms: Date.now() - started }),
    );
}

/** Resolves with `value` after `ms`, unless the test finished first. */
const after = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms).unref());

describe.each(stallers)("%s that stalls mid-body", (name, transport) => {
  test("is disconnected after the idle timeout; what arrived is kept and the upload resumes", async () => {
    const files = t.client("grpc (HTTP/2)");
    const data = content(300 * KiB);
    const { session } = await files.createUploadSession({
      bucket: "stall",
      key: `${name.split(" ")[1]}.bin`,
      size: BigInt(data.length),
      sha256: sha256(data),
    });
    const release = new AbortController();
    const outcome = await Promise.race([
      stalledUpload(transport(), session!.id, data, 150 * KiB, release.signal),
      after(15_000, "still connected after 15 s"),
    ]);
    release.abort();
    expect(outcome).not.toBe("still connected after 15 s");
    const { err, ms } = outcome as { err: unknown; ms: number };
    expect(err).toBeInstanceOf(ConnectError); // cut, not completed
    expect(ms).toBeGreaterThanOrEqual(900);

    // Every byte that arrived is committed (150 KiB: past the last 64 KiB checkpoint), by the
    // handler that sees its stream break: that may finish just after the client gave up.
    const offset = async () => (await files.getUploadSession({ uploadId: session!.id })).session!.offset;
    await eventually(async () => (await offset()) === 150n * 1024n, 10_000).catch(async () =>
      expect(await offset()).toBe(150n * 1024n),
    );
    // The stalled request's handler lets go of the session just after it commits; then the resume
    // is not refused as a second writer.
    await eventually(async () => (await sessionLockHolder(t.db.sql, session!.id)) === undefined);
    const res = await files.uploadContent(chunks(session!.id, data.subarray(150 * KiB), 64 * KiB, 150 * KiB));
    expect(res.file?.sha256).toBe(sha256(data));
    expect(sha256((await download(files, "stall", res.file!.key)).data)).toBe(sha256(data));
  });
});

/** The session's timeout sees the whole connection; each stream has its own (server.ts). */
test("a gRPC stream that stalls on a busy HTTP/2 connection is cut after the idle timeout", async () => {
  const transport = createGrpcTransport({ baseUrl: t.baseUrl });
  const files = createClient(FilesService, transport);
  const data = content(100 * KiB);
  const { session } = await files.createUploadSession({ bucket: "stall", key: "busy.bin", size: BigInt(data.length) });
  const release = new AbortController();
  let busy = true;
  const traffic = (async () => {
    while (busy) {
      await files.listBuckets({});
      await after(200, undefined);
    }
  })();
  try {
    const outcome = await Promise.race([
      stalledUpload(transport, session!.id, data, 50 * KiB, release.signal),
      after(5_000, "still connected after 5 s"),
    ]);
    expect(outcome).not.toBe("still connected after 5 s");
    const { err, ms } = outcome as { err: unknown; ms: number };
    expect(err).toBeInstanceOf(ConnectError); // cut, not completed
    expect(ms).toBeGreaterThanOrEqual(900);
  } finally {
    busy = false;
    release.abort();
    await traffic;
  }
});

/** How long until the server closes `socket` (-1 if it is still open after 15 s, then closed here). */
async function msUntilClosed(socket: net.Socket): Promise<number> {
  const started = Date.now();
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - started)));
  const ms = await Promise.race([closed, after(15_000, -1)]);
  socket.destroy();
  return ms;
}

test("a connection that never sends a byte is closed after the idle timeout", async () => {
  const socket = net.connect(t.app.port, "127.0.0.1");
  expect(await msUntilClosed(socket)).toBeGreaterThanOrEqual(900);
});

test("an HTTP/1.1 request whose headers stop coming is closed after the idle timeout", async () => {
  const socket = net.connect(t.app.port, "127.0.0.1");
  socket.write("POST /files.v1.FilesService/ListBuckets HTTP/1.1\r\nHost: x\r\nContent-Ty");
  let answer = "";
  socket.on("data", (d: Buffer) => (answer += d.toString()));
  expect(await msUntilClosed(socket)).toBeGreaterThanOrEqual(900);
  expect(answer).not.toMatch(/^HTTP\/1.1 200/);
});

test("an HTTP/1.1 client that sends its headers slowly (slow-loris) is cut after the headers timeout", async () => {
  const socket = net.connect(t.app.port, "127.0.0.1");
  socket.write("POST /files.v1.FilesService/ListBuckets HTTP/1.1\r\nHost: x\r\n");
  // One header line every 100 ms: never idle (a stall of the test process up to 900 ms is fine), never done.
  let n = 0;
  const drip = setInterval(() => socket.write(`X-Slow-${n++}: y\r\n`), 100);
  let answer = "";
  socket.on("data", (d: Buffer) => (answer += d.toString()));
  const ms = await msUntilClosed(socket);
  clearInterval(drip);
  expect(ms).toBeGreaterThanOrEqual(1900);
  expect(ms).toBeLessThan(6000);
  expect(answer).toMatch(/^HTTP\/1.1 408/);
});

test("clients that reset their connection before, or right after, their first byte don't take the server down", async () => {
  for (const first of [undefined, "GET /v1/files HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n"]) {
    const socket = net.connect(t.app.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    if (first) socket.write(first);
    socket.resetAndDestroy();
  }
  await after(100, undefined);
  const res = await fetch(`${t.baseUrl}/healthz`);
  expect(res.status).toBe(200);
});
