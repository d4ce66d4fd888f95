/**
 * Two server processes on one database and one S3 bucket, as replicas behind a load balancer:
 * the requests of one upload land on either, one dies mid-upload and the other finishes it, and
 * every file is served by both. Against a real S3 server (test/support/s3.ts), never a mock.
 */
import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase, sessionLockHolder, type TestDatabase } from "../support/database.js";
import { restCall } from "../support/rest.js";
import { createTestBucket, describeWithS3, s3ServerEnv, testS3Client } from "../support/s3.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { chunks, content, download, eventually, sha256 } from "../support/uploads.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const root = fileURLToPath(new URL("../../", import.meta.url));

describeWithS3("replicas on S3", () => {
  let client: S3Client;
  let bucket: { bucket: string; dispose(): Promise<void> };
  let db: TestDatabase;
  let replicas: ServerProcess[] = [];
  const base = (i: number) => `http://127.0.0.1:${replicas[i].port}`;
  const start = () =>
    startServerProcess({
      DATABASE_URL: db.url,
      DATABASE_SCHEMA: db.schema,
      CHECKPOINT_BYTES: "1MiB",
      ...s3ServerEnv(bucket.bucket, "replicas"),
    });

  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client);
    db = await createTestDatabase();
    // One after the other: the first claims the bucket for the database, the second finds it claimed.
    replicas = [await start(), await start()];
  });
  afterAll(async () => {
    for (const r of replicas) r.child.kill("SIGTERM");
    await Promise.all(replicas.map((r) => r.exited));
    await db?.drop();
    await bucket?.dispose();
  });

  test("REST requests of one upload alternate between the replicas, across part boundaries; either serves it", async () => {
    const data = content(11 * MiB + 4321);
    const created = await restCall(
      base(0),
      "POST",
      "/v1/files",
      JSON.stringify({
        bucket: "rest",
        key: "alternating.bin",
        mime_type: "application/octet-stream",
        size: data.length,
      }),
    );
    expect(created.status).toBe(200);
    const id = created.json().id as string;
    // 5000 bytes first, as in the README's example, then pieces that end short of, at and past 5 MiB.
    const cuts = [0, 5000, 3 * MiB, 5 * MiB, 5 * MiB + 1, 9 * MiB, data.length];
    for (let i = 1; i < cuts.length; i++) {
      const via = i % 2;
      const answer = await restCall(base(via), "POST", `/v1/files/session:${id}`, data.subarray(cuts[i - 1], cuts[i]));
      expect(answer.status).toBe(200);
      const session = (await restCall(base(1 - via), "GET", `/v1/files/session:${id}`)).json();
      expect(Number(session.offset)).toBe(cuts[i]);
    }
    const info = (await restCall(base(1), "GET", "/v1/files/rest/alternating.bin")).json();
    expect(info.sha256).toBe(sha256(data));
    for (const i of [0, 1]) {
      const whole = await fetch(`${base(i)}/v1/files/rest/alternating.bin:content`);
      expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(data));
      const range = await fetch(`${base(i)}/v1/files/rest/alternating.bin:content`, {
        headers: { range: `bytes=${5 * MiB - 2}-${5 * MiB + 1}` },
      });
      expect(range.status).toBe(206);
      expect(Buffer.from(await range.arrayBuffer())).toEqual(data.subarray(5 * MiB - 2, 5 * MiB + 2));
    }
  });

  test("a replica SIGKILLed mid-upload: the other resumes from the committed offset with the right sha256", async () => {
    const data = content(14 * MiB);
    const { session } = await replicas[0].client.createUploadSession({
      bucket: "grpc",
      key: "killed.bin",
      size: BigInt(data.length),
      sha256: sha256(data),
      mimeType: "application/octet-stream",
    });
    const id = session!.id;
    const stop = new AbortController();
    const call = replicas[0].client.uploadContent(trickle(id, data.subarray(0, 10 * MiB), stop.signal)).catch((e) => e);
    await eventually(
      async () => (await replicas[1].client.getUploadSession({ uploadId: id })).session!.offset >= 6n * BigInt(MiB),
      30_000,
    );
    replicas[0].child.kill("SIGKILL");
    expect(await replicas[0].exited).toBe("SIGKILL");
    stop.abort();
    expect(await call).toBeInstanceOf(Error);

    // Postgres drops the dead process's session lock once it sees its connection gone.
    await eventually(async () => (await sessionLockHolder(db.sql, id)) === undefined, 30_000);
    const offset = Number((await replicas[1].client.getUploadSession({ uploadId: id })).session!.offset);
    expect(offset).toBeGreaterThanOrEqual(6 * MiB);
    const res = await replicas[1].client.uploadContent(chunks(id, data.subarray(offset), 100 * KiB, offset));
    expect(res.file?.sha256).toBe(sha256(data));
    replicas[0] = await start();
    for (const r of replicas) expect(sha256((await download(r.client, "grpc", "killed.bin")).data)).toBe(sha256(data));
  });

  test("a promised sha256 that does not match discards the upload on whichever replica completes it", async () => {
    const data = content(6 * MiB);
    const { session } = await replicas[0].client.createUploadSession({
      bucket: "grpc",
      key: "wrong.bin",
      size: BigInt(data.length),
      sha256: sha256(Buffer.from("something else")),
      mimeType: "application/octet-stream",
    });
    const id = session!.id;
    await replicas[0].client.uploadContent(chunks(id, data.subarray(0, 5 * MiB + 7)));
    const err = await replicas[1].client
      .uploadContent(chunks(id, data.subarray(5 * MiB + 7), 256 * KiB, 5 * MiB + 7))
      .catch((e) => e);
    expect(String(err)).toMatch(/not the promised/);
    await expect(replicas[0].client.getFile({ bucket: "grpc", key: "wrong.bin" })).rejects.toThrow(/not found/i);
  });

  test("replace and delete on one replica are seen by the other", async () => {
    const first = content(100 * KiB);
    const second = content(6 * MiB + 1);
    for (const [i, data] of [first, second].entries()) {
      const { session } = await replicas[i].client.createUploadSession({
        bucket: "grpc",
        key: "replaced.bin",
        size: BigInt(data.length),
        mimeType: "application/octet-stream",
      });
      await replicas[i].client.uploadContent(chunks(session!.id, data));
    }
    expect(sha256((await download(replicas[0].client, "grpc", "replaced.bin")).data)).toBe(sha256(second));
    await replicas[0].client.deleteFile({ bucket: "grpc", key: "replaced.bin" });
    await expect(replicas[1].client.getFile({ bucket: "grpc", key: "replaced.bin" })).rejects.toThrow(/not found/i);
  });

  test("a second writer of the same session is told it is busy, on either replica", async () => {
    const data = content(2 * MiB);
    const { session } = await replicas[0].client.createUploadSession({
      bucket: "grpc",
      key: `busy-${randomUUID()}.bin`,
      size: BigInt(data.length),
      mimeType: "application/octet-stream",
    });
    const id = session!.id;
    const stop = new AbortController();
    const first = replicas[0].client.uploadContent(trickle(id, data.subarray(0, MiB), stop.signal)).catch((e) => e);
    await eventually(async () => (await sessionLockHolder(db.sql, id)) !== undefined);
    const second = await replicas[1].client.uploadContent(chunks(id, data.subarray(0, 10))).catch((e) => e);
    expect(String(second)).toMatch(/busy|being written|another request/i);
    stop.abort();
    await first;
  });

  test("npm run fsck checks the content in S3: clean, then a missing object is reported", async () => {
    const fsck = (...flags: string[]) =>
      promisify(execFile)(process.execPath, ["--import", "tsx", "src/fsck/main.ts", "--json", ...flags], {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          DATABASE_SCHEMA: db.schema,
          ...s3ServerEnv(bucket.bucket, "replicas"),
        },
      }).then(
        ({ stdout }) => ({ code: 0, report: JSON.parse(stdout) }),
        (err: { code: number; stdout: string }) => ({ code: err.code, report: JSON.parse(err.stdout) }),
      );
    const data = content(5 * MiB + 3);
    const { session } = await replicas[1].client.createUploadSession({
      bucket: "fsck",
      key: "checked.bin",
      size: BigInt(data.length),
      mimeType: "application/octet-stream",
    });
    await replicas[1].client.uploadContent(chunks(session!.id, data));
    const clean = await fsck("--sha256");
    expect(clean.code).toBe(0);
    expect(clean.report.checked.bytesHashed).toBeGreaterThanOrEqual(data.length);
    // On S3, reading every object back is asked for: by default sizes and existence only.
    expect((await fsck()).report.checked.bytesHashed).toBe(0);

    await client.send(new DeleteObjectCommand({ Bucket: bucket.bucket, Key: `replicas/blobs/${session!.id}` }));
    const damaged = await fsck();
    expect(damaged.code).toBe(1);
    expect(JSON.stringify(damaged.report.findings)).toContain(session!.id);
  });
});

/** Sends `data` in 64 KiB messages with pauses, then holds the request open until `stop`. */
async function* trickle(uploadId: string, data: Buffer, stop: AbortSignal) {
  for (let i = 0; i < data.length && !stop.aborted; i += 64 * KiB) {
    yield { uploadId: i === 0 ? uploadId : "", data: data.subarray(i, i + 64 * KiB) };
    if (i % MiB === 0) await new Promise((r) => setTimeout(r, 20));
  }
  // Stopped before the client took every message: the end of the request must still come.
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener("abort", resolve));
}
