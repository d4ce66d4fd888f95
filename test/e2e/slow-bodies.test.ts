/**
 * Request bodies have time limits (issue 8, item 5b), for callers with a valid key too:
 *
 * - a body read whole (REST JSON, Connect unary, gRPC unary) must have arrived within
 *   --request-body-timeout-seconds (1 s here), however steadily it trickles: else
 *   deadline_exceeded (REST 408) and the connection or stream is closed;
 * - an upload body below --min-upload-bytes-per-second (10 KiB/s here, over 1 s windows of
 *   waiting) is cut with deadline_exceeded; what arrived is committed and the upload resumes. One
 *   above the rate is not cut, however long it takes.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { sessionLockHolder } from "../support/database.js";
import { sendPartialHttp2Request, sendPartialRequest, type PartialRequest } from "../support/partial-requests.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, download, eventually, sha256 } from "../support/uploads.js";

const KiB = 1024;
const key = "slow-key-0123456789abcdef";
const authorization = `Bearer ${key}`;

let t: TestApp;
let files: Client<typeof FilesService>;
const sockets: PartialRequest[] = [];
const timers: NodeJS.Timeout[] = [];
beforeAll(async () => {
  t = await startTestApp({
    "api-keys": `${key}:rw:*`,
    "request-body-timeout-seconds": "1",
    "min-upload-bytes-per-second": "10KiB",
    "upload-rate-window-seconds": "1",
  });
  const withKey: Interceptor = (next) => (req) => {
    req.header.set("authorization", authorization);
    return next(req);
  };
  files = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl, interceptors: [withKey] }));
});
afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const s of sockets) s.socket.destroy();
  await t?.close();
});

/** A request with a key whose declared `declared`-byte body arrives `first`, then a byte every 100 ms (never idle). */
function trickling(
  head: string,
  declared: number,
  first: string | Buffer,
  next: (i: number) => string | Buffer = () => " ",
): PartialRequest {
  const request = sendPartialRequest(
    t.app.port,
    `${head}\r\nHost: test\r\nAuthorization: ${authorization}\r\nContent-Length: ${declared}`,
    first,
    10_000,
  );
  sockets.push(request);
  let i = 0;
  const timer = setInterval(() => request.send(next(i++)), 100);
  timers.push(timer);
  void request.closed.finally(() => clearInterval(timer)).catch(() => undefined);
  return request;
}

describe("a body read whole that is still arriving after the time limit", () => {
  test("REST JSON: 408 deadline_exceeded after the limit, and the connection is closed", async () => {
    const answer = await trickling("POST /v1/files HTTP/1.1\r\nContent-Type: application/json", 1000, "{").closed;
    expect(answer.status).toBe(408);
    expect(answer.firstByteMs).toBeGreaterThanOrEqual(900);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body.toString())).toEqual({
      code: "deadline_exceeded",
      message: "the request body did not arrive within 1 s",
    });
  });

  test("Connect unary: deadline_exceeded after the limit, and the connection is closed", async () => {
    const answer = await trickling(
      "POST /files.v1.FilesService/CreateUploadSession HTTP/1.1\r\nContent-Type: application/json",
      1000,
      "{",
    ).closed;
    expect(answer.status).toBe(504); // the Connect protocol's status of deadline_exceeded
    expect(answer.firstByteMs).toBeGreaterThanOrEqual(900);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body.toString())).toMatchObject({
      code: "deadline_exceeded",
      message: "the request body did not arrive within 1 s",
    });
  });

  test("gRPC unary (HTTP/2): grpc-status 4 after the limit, and the stream is closed", async () => {
    const body = Buffer.from([0, 0, 0, 3, 232, 1, 2, 3, 4, 5]); // announces 1000 bytes, brings 5
    const answer = await sendPartialHttp2Request(
      t.app.port,
      { ":path": "/files.v1.FilesService/GetFile", "content-type": "application/grpc", te: "trailers", authorization },
      body,
      10_000,
    );
    expect(answer.firstByteMs).toBeGreaterThanOrEqual(900);
    const status = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
    expect(status).toBe(String(Code.DeadlineExceeded));
  });

  test("a body that arrives in pieces within the limit is served", async () => {
    const body = JSON.stringify({ bucket: "slow", key: "pieces.bin", size: 1 });
    const request = sendPartialRequest(
      t.app.port,
      `POST /v1/files HTTP/1.1\r\nHost: test\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}`,
      body.slice(0, 5),
      10_000,
    );
    sockets.push(request);
    await new Promise((r) => setTimeout(r, 200));
    request.send(body.slice(5, 15));
    await new Promise((r) => setTimeout(r, 200));
    request.send(body.slice(15));
    expect((await request.closed).status).toBe(200);
  });
});

describe("an upload body below the minimum rate", () => {
  /** Waits until the handler that was cut has committed and let go of the session; answers its offset. */
  async function settledOffset(id: string): Promise<number> {
    await eventually(
      async () => (await sessionLockHolder(t.db.sql, id)) === undefined,
      10_000,
      "the cut request lets go of the session",
    );
    return Number((await files.getUploadSession({ uploadId: id })).session!.offset);
  }

  async function resume(id: string, data: Buffer, offset: number): Promise<void> {
    const res = await files.uploadContent(chunks(id, data.subarray(offset), 64 * KiB, offset));
    expect(res.file?.sha256).toBe(sha256(data));
  }

  test("REST: 408 deadline_exceeded, what arrived is committed, and the upload resumes", async () => {
    const data = content(300 * KiB);
    const { session } = await files.createUploadSession({
      bucket: "slow",
      key: "rest.bin",
      size: BigInt(data.length),
      sha256: sha256(data),
    });
    let sent = 100 * KiB;
    const answer = await trickling(
      `POST /v1/files/session:${session!.id} HTTP/1.1`,
      data.length,
      data.subarray(0, sent),
      () => {
        sent += 10;
        return data.subarray(sent - 10, sent);
      },
    ).closed;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body.toString())).toMatchObject({
      code: "deadline_exceeded",
      message: expect.stringMatching(/below the minimum of 10240 bytes\/s; what arrived is kept/),
    });
    const offset = await settledOffset(session!.id);
    expect(offset).toBeGreaterThanOrEqual(100 * KiB);
    await resume(session!.id, data, offset);
  });

  test("gRPC: deadline_exceeded, what arrived is committed, and the upload resumes", async () => {
    const data = content(300 * KiB);
    const { session } = await files.createUploadSession({
      bucket: "slow",
      key: "grpc.bin",
      size: BigInt(data.length),
      sha256: sha256(data),
    });
    let settled = false;
    async function* slowly() {
      yield { uploadId: session!.id, data: data.subarray(0, 100 * KiB) };
      for (let at = 100 * KiB; !settled && at < data.length; at += 10) {
        await new Promise((r) => setTimeout(r, 100));
        yield { data: data.subarray(at, at + 10) };
      }
    }
    // Bounded: a server that never cuts it fails the test in 15 s (Canceled), not at Jest's timeout.
    const err = await files.uploadContent(slowly(), { signal: AbortSignal.timeout(15_000) }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    settled = true;
    expect(err && Code[err.code]).toBe("DeadlineExceeded");
    expect(err?.rawMessage).toMatch(/below the minimum of 10240 bytes\/s/);
    const offset = await settledOffset(session!.id);
    expect(offset).toBeGreaterThanOrEqual(100 * KiB);
    await resume(session!.id, data, offset);
  });

  test("an upload above the minimum rate is not cut, however many windows it takes", async () => {
    const data = content(200 * KiB);
    const { session } = await files.createUploadSession({
      bucket: "slow",
      key: "steady.bin",
      size: BigInt(data.length),
    });
    async function* steadily() {
      // 20 KiB every 200 ms: 100 KiB/s, over ten windows.
      for (let at = 0; at < data.length; at += 20 * KiB) {
        if (at > 0) await new Promise((r) => setTimeout(r, 200));
        yield { uploadId: at === 0 ? session!.id : "", data: data.subarray(at, at + 20 * KiB) };
      }
    }
    const res = await files.uploadContent(steadily());
    expect(res.file?.sha256).toBe(sha256(data));
    expect(sha256((await download(files, "slow", "steady.bin")).data)).toBe(sha256(data));
  });
});
