/**
 * A caller without a valid key is answered from its headers, before a byte of its body is read
 * (issue 8, item 5a): on every protocol the answer comes at once for a body that never finishes,
 * the connection (HTTP/1.1) or stream (HTTP/2) is closed after it, and nothing is parsed. The
 * answer is what the authentication interceptor says: same code, message and WWW-Authenticate.
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { sendPartialHttp2Request, sendPartialRequest, type PartialRequest } from "../support/partial-requests.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content } from "../support/uploads.js";

const key = "bodies-key-0123456789abcdef";
const noKeyMessage = "this service needs an API key: send Authorization: Bearer <key>";
const badKeyMessage = "the API key is not valid";
const challenge = 'Bearer realm="files"';
// Generous for a loaded machine; a server that waits for the body never answers at all.
const atOnceMs = 3000;

let t: TestApp;
const open: PartialRequest[] = [];
beforeAll(async () => {
  t = await startTestApp({ "api-keys": `${key}:rw:*` });
});
afterAll(async () => {
  for (const request of open) request.socket.destroy();
  await t?.close();
});

/** A request whose declared 1 MB body stops after `sent`. */
function partial(head: string, sent: string | Buffer = "0123456789"): PartialRequest {
  const request = sendPartialRequest(t.app.port, `${head}\r\nHost: test\r\nContent-Length: 1000000`, sent, 10_000);
  open.push(request);
  return request;
}

describe("REST", () => {
  test("a keyless POST whose body never finishes gets its 401 at once, and the connection is closed", async () => {
    const answer = await partial("POST /v1/files HTTP/1.1\r\nContent-Type: application/json").closed;
    expect(answer.status).toBe(401);
    expect(answer.firstByteMs).toBeLessThan(atOnceMs);
    expect(answer.headers["www-authenticate"]).toBe(challenge);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body.toString())).toEqual({ code: "unauthenticated", message: noKeyMessage });
  });

  test("a wrong key is refused the same way, and a raw upload body too", async () => {
    const wrong = await partial("POST /v1/files HTTP/1.1\r\nAuthorization: Bearer wrong-key-0123456789abcdef").closed;
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body.toString())).toEqual({ code: "unauthenticated", message: badKeyMessage });
    const upload = await partial("POST /v1/files/session:0a0a0a0a-0000-4000-8000-000000000000 HTTP/1.1").closed;
    expect(upload.status).toBe(401);
    expect(upload.headers.connection).toBe("close");
  });

  test("a 2 MB deeply nested JSON body without a key is refused unparsed (401, not the parser's 400)", async () => {
    const depth = 1024 * 1024;
    const nested = "[".repeat(depth) + "]".repeat(depth);
    const res = await fetch(`${t.baseUrl}/v1/files`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: nested,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: "unauthenticated", message: noKeyMessage });
  });

  test("curl without a key: 401 with the challenge", async () => {
    const { stdout } = await promisify(execFile)("curl", [
      "-sS",
      "-i",
      "-X",
      "POST",
      `${t.baseUrl}/v1/files`,
      "-H",
      "content-type: application/json",
      "-d",
      '{"bucket":"b","key":"k","size":1}',
    ]);
    expect(stdout).toMatch(/^HTTP\/1\.1 401 /);
    expect(stdout).toMatch(/^www-authenticate: Bearer realm="files"\r$/im);
    expect(stdout).toContain(`{"code":"unauthenticated","message":"${noKeyMessage}"}`);
  });

  test("health and the OpenAPI document stay open", async () => {
    expect((await fetch(`${t.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.baseUrl}/openapi.json`)).status).toBe(200);
  });
});

describe("raw RPC requests whose bodies never finish", () => {
  test("Connect unary: 401 with the JSON error at once, and the connection is closed", async () => {
    const answer = await partial(
      "POST /files.v1.FilesService/CreateUploadSession HTTP/1.1\r\nContent-Type: application/json",
    ).closed;
    expect(answer.status).toBe(401);
    expect(answer.firstByteMs).toBeLessThan(atOnceMs);
    expect(answer.headers["www-authenticate"]).toBe(challenge);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body.toString())).toEqual({ code: "unauthenticated", message: noKeyMessage });
  });

  test("Connect streaming: an end-stream message with the error at once, and the connection is closed", async () => {
    const answer = await partial(
      "POST /files.v1.FilesService/UploadContent HTTP/1.1\r\nContent-Type: application/connect+proto",
    ).closed;
    expect(answer.status).toBe(200);
    expect(answer.firstByteMs).toBeLessThan(atOnceMs);
    expect(answer.headers.connection).toBe("close");
    expect(answer.body[0]).toBe(2); // the end-stream flag
    const end = JSON.parse(answer.body.subarray(5).toString()) as {
      error: unknown;
      metadata: Record<string, string[]>;
    };
    expect(end.error).toEqual({ code: "unauthenticated", message: noKeyMessage });
    expect(end.metadata["www-authenticate"]).toEqual([challenge]);
  });

  test("gRPC-Web over HTTP/1.1: grpc-status 16 in the headers at once, and the connection is closed", async () => {
    const answer = await partial(
      "POST /files.v1.FilesService/GetFile HTTP/1.1\r\nContent-Type: application/grpc-web+proto",
    ).closed;
    expect(answer.status).toBe(200);
    expect(answer.firstByteMs).toBeLessThan(atOnceMs);
    expect(answer.headers["grpc-status"]).toBe(String(Code.Unauthenticated));
    expect(decodeURIComponent(answer.headers["grpc-message"])).toBe(noKeyMessage);
    expect(answer.headers["www-authenticate"]).toBe(challenge);
    expect(answer.headers.connection).toBe("close");
    expect(answer.body.length).toBe(0);
  });

  test.each([
    ["unary GetFile", "/files.v1.FilesService/GetFile"],
    ["server-streaming DownloadFile", "/files.v1.FilesService/DownloadFile"],
    ["client-streaming UploadContent", "/files.v1.FilesService/UploadContent"],
  ])("gRPC (HTTP/2) %s: a trailers-only grpc-status 16 at once, and the stream is closed", async (_name, rpcPath) => {
    // An envelope that announces 1000 bytes and brings 5.
    const body = Buffer.from([0, 0, 0, 3, 232, 1, 2, 3, 4, 5]);
    const answer = await sendPartialHttp2Request(
      t.app.port,
      { ":path": rpcPath, "content-type": "application/grpc", te: "trailers" },
      body,
      10_000,
    );
    expect(answer.firstByteMs).toBeLessThan(atOnceMs);
    expect(answer.trailersOnly).toBe(true);
    expect(answer.headers["grpc-status"]).toBe(String(Code.Unauthenticated));
    expect(decodeURIComponent(String(answer.headers["grpc-message"]))).toBe(noKeyMessage);
    expect(answer.headers["www-authenticate"]).toBe(challenge);
  });
});

describe.each<[string, () => Transport]>([
  ["gRPC", () => createGrpcTransport({ baseUrl: t.baseUrl })],
  ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })],
  ["Connect over HTTP/2", () => createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "2" })],
  ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" })],
])("the %s client without a key", (_name, transport) => {
  const expectRefused = (err: ConnectError) => {
    expect(Code[err.code]).toBe("Unauthenticated");
    expect(err.rawMessage).toBe(noKeyMessage);
    expect(err.metadata.get("www-authenticate")).toBe(challenge);
  };

  test("is refused on unary, server-streaming and client-streaming calls, as the interceptor refuses", async () => {
    const files = createClient(FilesService, transport());
    expectRefused(await files.listBuckets({}).then(() => new ConnectError("served"), ConnectError.from));
    const download = (async () => {
      for await (const _ of files.downloadFile({ bucket: "b", key: "k" }));
    })();
    expectRefused(await download.then(() => new ConnectError("served"), ConnectError.from));
    const upload = files.uploadContent(chunks("0a0a0a0a-0000-4000-8000-000000000000", content(1000)));
    expectRefused(await upload.then(() => new ConnectError("served"), ConnectError.from));
  });

  test("still gets the health check", async () => {
    expect((await createClient(Health, transport()).check({})).status).toBe(ServingStatus.SERVING);
  });

  test("with a key, calls are served", async () => {
    const withKey = createClient(FilesService, transport());
    await expect(withKey.listBuckets({}, { headers: { authorization: `Bearer ${key}` } })).resolves.toBeDefined();
  });
});

describe("a flood of slow keyless bodies (server as its own process)", () => {
  let db: TestDatabase;
  let blobDir: string;
  let server: ServerProcess | undefined;
  const flood: PartialRequest[] = [];
  afterAll(async () => {
    for (const request of flood) request.socket.destroy();
    server?.child.kill("SIGKILL");
    await server?.exited;
    await db?.drop();
    if (blobDir) await rm(blobDir, { recursive: true, force: true });
  });

  test("200 connections each holding a 1 MB body open are each answered and closed; the server's open files return to where they were", async () => {
    db = await createTestDatabase();
    blobDir = await mkdtemp(path.join(tmpdir(), "bodies-flood-"));
    server = await startServerProcess({
      DATABASE_URL: db.url,
      DATABASE_SCHEMA: db.schema,
      BLOB_DIR: blobDir,
      API_KEYS: `${key}:rw:*`,
    });
    const fds = () => readdirSync(`/proc/${server!.child.pid}/fd`).length;
    const before = fds();
    for (let i = 0; i < 200; i++) {
      flood.push(
        sendPartialRequest(
          server.port,
          "POST /v1/files HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: 1000000",
          "{",
          20_000,
        ),
      );
    }
    const answers = await Promise.all(flood.map((r) => r.closed));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 401));
    // The server closed each connection; its side of each is released as soon as it has.
    const deadline = Date.now() + 5000;
    while (fds() > before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fds()).toBeLessThanOrEqual(before + 2);
  });
});
