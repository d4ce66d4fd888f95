/**
 * A transaction elsewhere that holds a lock and never ends (a stuck process, an operator's open
 * psql): with --database-statement-timeout-seconds, calls that need that lock fail fast with
 * unavailable (503) and change nothing, instead of hanging; once the lock goes they work again.
 */
import { Code } from "@connectrpc/connect";
import { failureOf, timedFailureOf } from "../support/connect-errors.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, sha256, uploadFile } from "../support/uploads.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "database-statement-timeout-seconds": "1" });
});
afterAll(() => t?.close());

/** Holds row locks on the files rows of `bucket` in an open transaction until `release` is called. */
async function holdRowLocks(bucket: string): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const tx = t.db.sql.begin(async (sql) => {
    await sql`select key from files where bucket = ${bucket} for update`;
    locked();
    await released;
  });
  await Promise.race([isLocked, tx]);
  return {
    release: async () => {
      release();
      await tx;
    },
  };
}

test("a delete that waits on a stuck transaction's lock fails with unavailable after the timeout, and deletes nothing", async () => {
  const data = content(1000);
  await uploadFile(t.client("grpc (HTTP/2)"), "stuck", "a.bin", data);
  const lock = await holdRowLocks("stuck");
  try {
    for (const transport of ["grpc (HTTP/2)", "connect (HTTP/1.1)"] as const) {
      const { err: error, ms } = await timedFailureOf(() =>
        t.client(transport).deleteFile({ bucket: "stuck", key: "a.bin" }),
      );
      expect([Code[error.code], error.rawMessage]).toEqual([
        Code[Code.Unavailable],
        "a metadata query took too long and was cancelled; retry shortly",
      ]);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(10_000);
    }
    const rest = await fetch(`${t.baseUrl}/v1/files/stuck/a.bin`, { method: "DELETE" });
    expect(rest.status).toBe(503);
    expect(await rest.json()).toEqual({
      code: "unavailable",
      message: "a metadata query took too long and was cancelled; retry shortly",
    });
    // Reads take no row lock: they are served meanwhile, and the file is all there.
    expect((await t.client("grpc (HTTP/2)").getFile({ bucket: "stuck", key: "a.bin" })).file?.sha256).toBe(
      sha256(data),
    );
  } finally {
    await lock.release();
  }
  expect((await t.client("grpc (HTTP/2)").deleteFile({ bucket: "stuck", key: "a.bin" })).file?.sha256).toBe(
    sha256(data),
  );
});

test("an upload that completes onto a locked key fails with unavailable and stays resumable", async () => {
  const files = t.client("grpc (HTTP/2)");
  const old = content(10);
  await uploadFile(files, "stuck", "b.bin", old);
  const data = content(5000);
  const { session } = await files.createUploadSession({ bucket: "stuck", key: "b.bin", size: BigInt(data.length) });
  const id = session!.id;
  await files.uploadContent(chunks(id, data.subarray(0, 2000)));
  const lock = await holdRowLocks("stuck");
  try {
    const error = await failureOf(files.uploadContent(chunks(id, data.subarray(2000), 1000, 2000)));
    expect(Code[error.code]).toBe(Code[Code.Unavailable]);
    expect((await files.getFile({ bucket: "stuck", key: "b.bin" })).file?.sha256).toBe(sha256(old));
  } finally {
    await lock.release();
  }
  // Whatever the failed request committed before the timeout counts; the rest is sent again.
  const offset = Number((await files.getUploadSession({ uploadId: id })).session!.offset);
  expect(offset).toBeGreaterThanOrEqual(2000);
  expect(offset).toBeLessThanOrEqual(data.length);
  const res = await files.uploadContent(chunks(id, data.subarray(offset), 1000, offset));
  expect(res.file?.sha256).toBe(sha256(data));
});
