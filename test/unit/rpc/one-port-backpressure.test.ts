/**
 * The one-port server (src/rpc/server.ts) reads a connection's first bytes itself, to tell HTTP/2
 * from HTTP/1.1, before an HTTP server takes it. Whatever it does to the socket then must leave
 * backpressure intact: a handler that reads a request body slowly must slow the client down
 * through TCP, not make the server buffer the body. (Pausing and resuming the socket around the
 * handover once left an HTTP/1.1 stream paused while its handle kept reading: a REST upload's
 * whole body piled up in memory whenever the disk lagged behind the network.)
 */
import http from "node:http";
import http2 from "node:http2";
import type { Writable } from "node:stream";
import { createServer, type Server } from "../../../src/rpc/server.js";
import { bodyChunks, type NodeRequest, type NodeResponse } from "../../../src/transcoding/index.js";

const MiB = 1024 * 1024;
const bodyBytes = 64 * MiB;

let server: Server;
let port: number;
let mostBuffered = 0;

/**
 * Reads the body as the service does (bodyChunks), taking a chunk every 2 ms: far slower than
 * loopback. Notes the most the request ever held unread.
 */
async function serviceReader(req: NodeRequest): Promise<number> {
  let received = 0;
  for await (const chunk of bodyChunks(req)) {
    received += chunk.length;
    mostBuffered = Math.max(mostBuffered, req.readableLength);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return received;
}

/** Reads 64 KiB every 2 ms in paused mode (read()), as a stream consumer may. */
function pollingReader(req: NodeRequest): Promise<number> {
  return new Promise((resolve) => {
    let received = 0;
    req.pause();
    const tick = setInterval(() => {
      mostBuffered = Math.max(mostBuffered, req.readableLength);
      const chunk = req.read(64 * 1024) as Buffer | null;
      if (chunk) received += chunk.length;
    }, 2);
    req.once("end", () => {
      clearInterval(tick);
      resolve(received);
    });
  });
}

function slowReader(req: NodeRequest, res: NodeResponse): void {
  void (req.url === "/polling" ? pollingReader(req) : serviceReader(req)).then((n) => res.end(String(n)));
}

beforeAll(async () => {
  server = createServer({
    handler: slowReader,
    idleTimeoutMs: 60_000,
    headersTimeoutMs: 60_000,
    maxConcurrentStreams: 100,
    onError: () => undefined,
  });
  port = await server.listen(0, "127.0.0.1");
});
afterAll(() => server.close(1000));
beforeEach(() => {
  mostBuffered = 0;
});

/** Sends `bodyBytes` in 1 MiB writes, as fast as the connection takes them; answers the response text. */
function postOverHttp1(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { port, host: "127.0.0.1", path, method: "POST", headers: { "content-length": bodyBytes } },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    writeInMiBs(req, bodyBytes);
  });
}

/** Writes `bytes` to `body` in 1 MiB writes, each as soon as the last is taken, then ends it. */
function writeInMiBs(body: Writable, bytes: number): void {
  const chunk = Buffer.alloc(MiB, 7);
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      sent += chunk.length;
      if (!body.write(chunk)) return void body.once("drain", pump);
    }
    body.end();
  };
  pump();
}

function postOverHttp2(bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": "/", "content-length": String(bytes) });
    let text = "";
    stream.setEncoding("utf8").on("data", (d: string) => (text += d));
    stream.on("end", () => {
      session.close();
      resolve(text);
    });
    stream.on("error", reject);
    writeInMiBs(stream, bytes);
  });
}

test.each(["/polling", "/service"])(
  "HTTP/1.1, %s reader: a body read slowly is held back by the connection, not buffered by the server",
  async (path) => {
    expect(await postOverHttp1(path)).toBe(String(bodyBytes));
    expect(mostBuffered).toBeLessThan(4 * MiB);
  },
  30_000,
);

test("HTTP/2: a body read slowly is held back by flow control, not buffered past the stream's window", async () => {
  // Past the 16 MiB window the server grants each stream, so that flow control has to hold it back.
  const bytes = 32 * MiB;
  expect(await postOverHttp2(bytes)).toBe(String(bytes));
  // The server grants each stream a 16 MiB window: that much may wait, no more.
  expect(mostBuffered).toBeLessThanOrEqual(17 * MiB);
}, 30_000);
