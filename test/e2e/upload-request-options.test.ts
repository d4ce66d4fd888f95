/**
 * The two options an upload request may carry on its first message, over gRPC, Connect and REST
 * alike (tus and the IETF draft are built on them): a checksum of the request's content, which
 * makes the request all or nothing, and a deferred completion, which keeps an upload that reached
 * its size open until a later request completes it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp, transportNames } from "../support/test-app.js";
import { content, sha256 } from "../support/uploads.js";

const KiB = 1024;
// On S3 (test/e2e/on-s3/) the refused request must span whole parts (5 MiB there) and a tail.
const onS3 = process.env.TEST_BLOB_STORE === "s3";
const checkedSize = onS3 ? 12 * 1024 * KiB + 7 : 300 * KiB;
// ... and a deferred completion end exactly on a part boundary (no tail: the last part is whole).
const deferredSize = onS3 ? 10 * 1024 * KiB : 100 * KiB;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "checkpoint-bytes": "64KiB" });
});
afterAll(() => t?.close());

const digest = (data: Uint8Array, algorithm = "sha256") => createHash(algorithm).update(data).digest();

async function open(key: string, size: number) {
  const { session } = await t
    .client("grpc (HTTP/2)")
    .createUploadSession({ bucket: "options", key, size: BigInt(size) });
  return session!.id;
}

async function* messages(uploadId: string, data: Buffer, first: Record<string, unknown>) {
  for (let at = 0; at < data.length; at += 64 * KiB)
    yield { ...(at === 0 ? { uploadId, ...first } : {}), data: data.subarray(at, at + 64 * KiB) };
}

describe.each(transportNames)("over %s", (transport) => {
  test("a request whose content does not match its checksum keeps nothing (DATA_LOSS); with the right one it completes", async () => {
    const files = t.client(transport);
    const data = content(checkedSize);
    const id = await open(`checked-${transport.split(" ")[0]}.bin`, data.length);
    const wrong = digest(data);
    wrong[5] ^= 1;
    const err = await files
      .uploadContent(messages(id, data, { checksum: { algorithm: "sha256", digest: wrong } }))
      .catch((e: unknown) => ConnectError.from(e));
    expect([
      err instanceof ConnectError && Code[err.code],
      (err as ConnectError).metadata.get("upload-offset"),
    ]).toEqual(["DataLoss", "0"]);
    // Several checkpoints' worth arrived (on S3: whole parts); none was committed.
    expect((await files.getUploadSession({ uploadId: id })).session?.offset).toBe(0n);
    const done = await files.uploadContent(
      messages(id, data, { checksum: { algorithm: "sha1", digest: digest(data, "sha1") } }),
    );
    expect(done.file?.sha256).toBe(sha256(data));
  });

  test("a deferred completion: all bytes committed, no file, until a request without data completes it", async () => {
    const files = t.client(transport);
    const data = content(deferredSize);
    const key = `deferred-${transport.split(" ")[0]}.bin`;
    const id = await open(key, data.length);
    const sent = await files.uploadContent(messages(id, data, { deferCompletion: true }));
    expect([sent.session?.offset, sent.session?.complete, sent.file]).toEqual([BigInt(data.length), false, undefined]);
    await expect(files.getFile({ bucket: "options", key })).rejects.toMatchObject({ code: Code.NotFound });
    const done = await files.uploadContent(
      (async function* () {
        yield { uploadId: id };
      })(),
    );
    expect(done.file).toMatchObject({ key, sha256: sha256(data) });
  });
});

test("REST takes both as query parameters of the upload URL", async () => {
  const data = content(10 * KiB);
  const id = await open("rest.bin", data.length);
  const url = (query: string) => `/v1/files/session:${id}?${query}`;
  const bad = Buffer.alloc(32).toString("base64url");
  const refused = await restCall(t.baseUrl, "POST", url(`checksum.algorithm=sha256&checksum.digest=${bad}`), data);
  expect([refused.status, refused.json().message]).toEqual([
    400,
    expect.stringMatching(/does not match its sha256 checksum/),
  ]);
  const good = digest(data).toString("base64url");
  const held = await restCall(
    t.baseUrl,
    "POST",
    url(`checksum.algorithm=sha256&checksum.digest=${good}&defer_completion=true`),
    data,
  );
  // Not complete: no file to answer, and the offset in its header.
  expect([held.status, held.text.trim(), held.headers.get("upload-offset")]).toEqual([
    200,
    "null",
    String(data.length),
  ]);
  expect((await restCall(t.baseUrl, "GET", "/v1/files/options/rest.bin")).status).toBe(404);
  const done = await restCall(t.baseUrl, "POST", url(""));
  expect([done.status, done.json()]).toEqual([200, expect.objectContaining({ sha256: sha256(data) })]);
});
