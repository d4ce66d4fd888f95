/**
 * A completed upload whose final answer was lost, as a user meets it through `npm start`: the
 * connection breaks after the last byte went out, so the client cannot tell whether the upload
 * completed. The session URL must say so (complete, offset == size, the file it became) until the
 * session would have expired; a retry without content answers the file again, and a retry with
 * content is refused, never a second file. Before, the session answered 404 "may have completed".
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { listening, npmStart, stopEverything, type NpmServer, type NpmStart } from "../support/npm-start.js";
import { restCall } from "../support/rest.js";
import { chunks, content, eventually, sha256 } from "../support/uploads.js";

let db: TestDatabase;
let dir: string;
let server: NpmServer;
const starts: NpmStart[] = [];
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "files-completed-"));
  const started = npmStart({ DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema, BLOB_DIR: dir, MAX_OPEN_SESSIONS: "2" });
  starts.push(started);
  server = await listening(started);
  base = `http://127.0.0.1:${server.port}`;
}, 60_000);
afterAll(async () => {
  await stopEverything(starts, path.join(dir, "no-embedded-postgres"));
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Sends a whole raw-body upload request and never reads the answer: the connection is cut once the file exists. */
async function uploadAndLoseTheAnswer(id: string, data: Buffer, fileUrl: string): Promise<void> {
  const socket = net.connect(server.port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(`POST /v1/files/session:${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${data.length}\r\n\r\n`);
  socket.write(data);
  await eventually(async () => (await restCall(base, "GET", fileUrl)).status === 200, 10_000, "the upload completed");
  socket.destroy();
}

test("REST: the session answers complete and its file; a retry without content answers the file; with content, 400", async () => {
  const data = content(300_000);
  const created = await restCall(
    base,
    "POST",
    "/v1/files",
    JSON.stringify({ bucket: "lost", key: "answer.bin", mime_type: "application/octet-stream", size: data.length }),
  );
  expect(created.status).toBe(200);
  const id = created.json().id as string;
  await uploadAndLoseTheAnswer(id, data, "/v1/files/lost/answer.bin");

  const session = await restCall(base, "GET", `/v1/files/session:${id}`);
  expect(session.status).toBe(200);
  expect(session.json()).toMatchObject({
    id,
    offset: data.length,
    size: data.length,
    complete: true,
    file: { bucket: "lost", key: "answer.bin", bytes: data.length, sha256: sha256(data) },
  });
  const head = await restCall(base, "HEAD", `/v1/files/session:${id}`);
  expect([head.status, head.headers.get("upload-offset")]).toEqual([200, String(data.length)]);

  // The client retries the completing request without content: the same answer as the lost one.
  const again = await restCall(base, "POST", `/v1/files/session:${id}`, Buffer.alloc(0), {
    "upload-offset": String(data.length),
  });
  expect(again.status).toBe(200);
  expect(again.json()).toMatchObject({ bucket: "lost", key: "answer.bin", sha256: sha256(data) });

  // It resends the content instead: refused whole, saying why; the file is unchanged.
  const resent = await restCall(base, "POST", `/v1/files/session:${id}`, data.subarray(0, 1000), {
    "upload-offset": "0",
  });
  expect(resent.status).toBe(400);
  expect(resent.json()).toMatchObject({
    code: "failed_precondition",
    message: expect.stringMatching(
      /is complete: all 300000 bytes were committed and became file lost\/answer\.bin; nothing of this request was kept/,
    ),
  });
  expect(resent.headers.get("upload-offset")).toBe(String(data.length));
  expect((await restCall(base, "GET", "/v1/files/lost/answer.bin")).json()).toMatchObject({
    sha256: sha256(data),
    bytes: data.length,
  });

  // A completed session cannot be cancelled: its file is deleted instead.
  const cancel = await restCall(base, "DELETE", `/v1/files/session:${id}`);
  expect([cancel.status, cancel.json().code]).toEqual([400, "failed_precondition"]);
});

test("gRPC: GetUploadSession answers complete and the file; once the file is replaced, complete without it", async () => {
  const data = content(10_000);
  const { session } = await server.client.createUploadSession({
    bucket: "lost",
    key: "grpc.bin",
    size: BigInt(data.length),
  });
  const id = session!.id;
  await uploadAndLoseTheAnswer(id, data, "/v1/files/lost/grpc.bin");

  const answered = (await server.client.getUploadSession({ uploadId: id })).session!;
  expect(answered).toMatchObject({ complete: true, offset: BigInt(data.length), size: BigInt(data.length) });
  expect(answered.file).toMatchObject({ bucket: "lost", key: "grpc.bin", sha256: sha256(data) });
  expect((await server.client.uploadContent(chunks(id, new Uint8Array(0)))).file?.sha256).toBe(sha256(data));
  await expect(server.client.uploadContent(chunks(id, data))).rejects.toMatchObject({ code: Code.FailedPrecondition });

  // Another upload replaces the file: the old session still says it completed, but its file is gone.
  const replacement = content(5);
  const { session: next } = await server.client.createUploadSession({ bucket: "lost", key: "grpc.bin", size: 5n });
  await server.client.uploadContent(chunks(next!.id, replacement));
  const old = (await server.client.getUploadSession({ uploadId: id })).session!;
  expect([old.complete, old.offset, old.file]).toEqual([true, BigInt(data.length), undefined]);
  const retry = await server.client
    .uploadContent(chunks(id, new Uint8Array(0)))
    .catch((err: unknown) => ConnectError.from(err));
  expect(retry).toMatchObject({
    code: Code.FailedPrecondition,
    rawMessage: expect.stringMatching(/has since been replaced or deleted/),
  });

  // Until it would have expired; then it is gone like any other.
  await db.sql`update upload_sessions set expires_at = now() - interval '1 second' where id = ${id}`;
  await expect(server.client.getUploadSession({ uploadId: id })).rejects.toMatchObject({ code: Code.NotFound });
});

test("completed sessions, kept for their clients, do not count against the open-session limit", async () => {
  const [{ count }] = await db.sql<
    { count: number }[]
  >`select count(*)::int as count from upload_sessions where completed_at is not null`;
  expect(count).toBeGreaterThanOrEqual(2); // the limit is 2
  for (const key of ["one.bin", "two.bin"]) {
    expect((await server.client.createUploadSession({ bucket: "lost", key, size: 1n })).session!.complete).toBe(false);
  }
  await expect(server.client.createUploadSession({ bucket: "lost", key: "three.bin", size: 1n })).rejects.toMatchObject(
    { code: Code.ResourceExhausted },
  );
});
