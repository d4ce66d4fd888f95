/**
 * A client that goes away mid-request — its stream reset, its connection cut, its request body
 * broken off — is routine, not a server fault: the log says so at info ("client went away", with
 * the RPC), never at warn or error, and never blames the database (a client's ECONNRESET is not
 * Postgres's). What arrived of an upload is still kept.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import { UploadContentRequestSchema } from "../../gen/files/v1/files_pb.js";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, eventually } from "../support/uploads.js";

const KiB = 1024;

let t: TestApp;
const logLines: string[] = [];
beforeAll(async () => {
  t = await startTestApp({ "checkpoint-bytes": "64KiB" }, {}, (line) => logLines.push(line));
});
afterAll(() => t?.close());

async function createSession(key: string, size: number): Promise<string> {
  const res = await restCall(t.baseUrl, "POST", "/v1/files", JSON.stringify({ bucket: "gone", key, size }));
  expect(res.status).toBe(200);
  return res.json().id as string;
}

const committedOffset = async (id: string) =>
  (await restCall(t.baseUrl, "GET", `/v1/files/session:${id}`)).json().offset as number;

/** Runs `cut`, which breaks a request off, and answers the log lines written meanwhile. */
async function linesLoggedDuring(
  cut: (from: number) => Promise<void>,
): Promise<{ level: string; message: string; rpc?: string }[]> {
  const from = logLines.length;
  await cut(from);
  return logLines.slice(from).map((line) => JSON.parse(line));
}

/** No warning, no error, no word of the database: the client's leaving is its own business. */
function expectRoutine(lines: { level: string }[]): void {
  expect(lines.filter((l) => l.level !== "info")).toEqual([]);
  expect(JSON.stringify(lines)).not.toMatch(/database/i);
}

/** Waits until the handler has seen the stream break: it says so in one line, whatever the line says. */
async function cutLoggedSince(from: number) {
  return eventually(() => logLines.length > from, 5000, "the cut upload is logged");
}

/** Sends 100 KiB, then waits (without ending the request) until `abort` fires. */
async function* halfAnUpload(id: string, abort: AbortSignal) {
  yield* chunks(id, randomBytes(100 * KiB), 10 * KiB);
  await new Promise((resolve) => abort.addEventListener("abort", resolve));
}

describe.each(["grpc (HTTP/2)", "connect (HTTP/1.1)"] as const)(
  "over %s, a client that aborts mid-upload",
  (transport) => {
    test("is logged at info as gone, and its 100 KiB are kept", async () => {
      const id = await createSession(`abort-${transport.split(" ")[0]}`, 200 * KiB);
      const lines = await linesLoggedDuring(async (from) => {
        const abort = new AbortController();
        const call = t.client(transport).uploadContent(halfAnUpload(id, abort.signal), { signal: abort.signal });
        await eventually(async () => (await t.storedBytes(id)) === 100 * KiB);
        abort.abort();
        await call.catch(() => undefined);
        await cutLoggedSince(from);
        await eventually(async () => (await committedOffset(id)) === 100 * KiB);
      });
      expectRoutine(lines);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: "info",
          message: "client went away",
          rpc: "files.v1.FilesService/UploadContent",
        }),
      );
    });
  },
);

test("gRPC: the whole HTTP/2 connection cut mid-upload is logged at info as gone", async () => {
  const id = await createSession("grpc-cut", 200 * KiB);
  const lines = await linesLoggedDuring(async (from) => {
    const session = http2.connect(t.baseUrl);
    session.on("error", () => undefined);
    const stream = session.request({
      ":method": "POST",
      ":path": "/files.v1.FilesService/UploadContent",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => undefined);
    const message = toBinary(
      UploadContentRequestSchema,
      create(UploadContentRequestSchema, { uploadId: id, data: randomBytes(50 * KiB) }),
    );
    const envelope = Buffer.alloc(5 + message.length);
    envelope.writeUInt32BE(message.length, 1);
    envelope.set(message, 5);
    stream.write(envelope);
    await eventually(async () => (await t.storedBytes(id)) === 50 * KiB);
    session.destroy(); // the socket goes, without RST_STREAM or GOAWAY
    await cutLoggedSince(from);
    await eventually(async () => (await committedOffset(id)) === 50 * KiB);
  });
  expectRoutine(lines);
  expect(lines).toContainEqual(
    expect.objectContaining({ level: "info", message: "client went away", rpc: "files.v1.FilesService/UploadContent" }),
  );
});

test("REST: an upload body broken off is logged at info as gone, and what arrived is kept", async () => {
  const id = await createSession("rest-cut", 400 * KiB);
  const lines = await linesLoggedDuring(async (from) => {
    const req = http.request(`${t.baseUrl}/v1/files/session:${id}`, {
      method: "POST",
      headers: { "content-length": 400 * KiB },
    });
    req.on("error", () => undefined);
    req.write(randomBytes(300 * KiB));
    // The transcoder hands the body on in 256 KiB pieces: the first on disk shows the handler reading.
    await eventually(async () => (await t.storedBytes(id))! >= 256 * KiB);
    req.destroy();
    await cutLoggedSince(from);
    await eventually(async () => (await committedOffset(id)) >= 256 * KiB);
  });
  expectRoutine(lines);
  expect(lines).toContainEqual(
    expect.objectContaining({ level: "info", message: "client went away", rpc: "files.v1.FilesService/UploadContent" }),
  );
});

test("REST: a JSON body broken off is no error either", async () => {
  const lines = await linesLoggedDuring(async (_from) => {
    const req = http.request(`${t.baseUrl}/v1/files`, { method: "POST", headers: { "content-length": 100 } });
    const closed = new Promise((resolve) => req.on("error", resolve).on("close", resolve));
    req.write('{"bucket": "gone", ');
    // The server holds the request open, waiting for the rest of the body: a second request on
    // another connection answering shows it is past accepting this one.
    await restCall(t.baseUrl, "GET", "/v1/files");
    req.destroy();
    await closed;
    // Nothing is logged for it any more, so there is no line to wait for: the old code logged its
    // error within a few milliseconds of the cut, well inside this.
    await new Promise((resolve) => setTimeout(resolve, 300));
  });
  expectRoutine(lines);
});
