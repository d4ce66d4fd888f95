/**
 * The log an operator reads: one line per call with its RPC, protocol, request id, code, duration
 * and content bytes, under the client's request id (or a new one); an Authorization header never
 * appears.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, eventually } from "../support/uploads.js";

const key = "log-key-0123456789abcdefgh";
const lines: Record<string, unknown>[] = [];
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "api-keys": `${key}:rw:*` }, {}, (line) => lines.push(JSON.parse(line)));
});
afterAll(() => t?.close());

const callLines = () => lines.filter((l) => l.message === "call");

test("a gRPC upload and a REST download: one line each, with protocol, request id, code, ms and bytes", async () => {
  const withHeaders =
    (requestId: string): Interceptor =>
    (next) =>
    (req) => {
      req.header.set("authorization", `Bearer ${key}`);
      req.header.set("x-request-id", requestId);
      return next(req);
    };
  const files = createClient(
    FilesService,
    createGrpcTransport({ baseUrl: t.baseUrl, interceptors: [withHeaders("upload-42")] }),
  );
  const { session } = await files.createUploadSession({ bucket: "logs", key: "a.bin", size: 3000n });
  await files.uploadContent(chunks(session!.id, content(3000), 1000));
  const download = await restCall(t.baseUrl, "GET", "/v1/files/logs/a.bin:content", undefined, {
    authorization: `Bearer ${key}`,
    "x-request-id": "download-7",
  });
  expect(download.status).toBe(200);

  const upload = callLines().find((l) => l.rpc === "files.v1.FilesService/UploadContent");
  expect(upload).toMatchObject({
    level: "info",
    protocol: "grpc",
    requestId: "upload-42",
    code: "ok",
    bytesIn: 3000,
    bytesOut: 0,
  });
  expect(typeof upload!.ms).toBe("number");
  // The client has the whole body once the last bytes are written; the call ends just after.
  const served = await eventually(() => callLines().find((l) => l.rpc === "files.v1.FilesService/DownloadFile"));
  expect(served).toMatchObject({ protocol: "rest", requestId: "download-7", code: "ok", bytesOut: 3000 });
});

test("a failed call logs its code; a request id that is not sane is replaced; no line shows the key", async () => {
  const missing = await restCall(t.baseUrl, "GET", "/v1/files/logs/none.bin", undefined, {
    authorization: `Bearer ${key}`,
    "x-request-id": "bad id\twith spaces",
  });
  expect(missing.status).toBe(404);
  const line = callLines().find((l) => l.rpc === "files.v1.FilesService/GetFile" && l.code === "not_found");
  expect(line).toMatchObject({ protocol: "rest" });
  expect(line!.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(JSON.stringify(lines)).not.toContain(key);
});

test("a call refused from its headers still gets its line; an error line of a call carries its request id", async () => {
  const refused = await restCall(t.baseUrl, "GET", "/v1/files/logs/a.bin", undefined, { "x-request-id": "no-key-1" });
  expect(refused.status).toBe(401);
  expect(callLines().find((l) => l.requestId === "no-key-1")).toMatchObject({
    rpc: "files.v1.FilesService/GetFile",
    protocol: "rest",
    code: "unauthenticated",
  });
  // A content fault is logged at error level by the call's own logger.
  const [{ blobId }] = await t.db.sql<{ blobId: string }[]>`select blob_id from files where key = 'a.bin'`;
  await t.app.blobs.delete(blobId);
  await restCall(t.baseUrl, "GET", "/v1/files/logs/a.bin:content", undefined, {
    authorization: `Bearer ${key}`,
    "x-request-id": "damaged-9",
  });
  expect(lines.find((l) => l.level === "error" && l.message === "stored content is damaged")).toMatchObject({
    requestId: "damaged-9",
    rpc: "files.v1.FilesService/DownloadFile",
  });
});
