/**
 * A real S3 for the tests of the S3 store, never a mock: the server global setup found
 * (S3_TEST_ENDPOINT and its keys; see global-setup.ts). Each test file gets a bucket of its own,
 * emptied and removed afterwards.
 */
import { randomUUID } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createS3Client } from "../../src/store/blobs/s3/s3-client.js";

/** The S3 server the tests use, or undefined when there is none. */
export const testS3 = process.env.S3_TEST_ENDPOINT
  ? {
      endpoint: process.env.S3_TEST_ENDPOINT,
      region: process.env.S3_TEST_REGION ?? "us-east-1",
      accessKeyId: process.env.S3_TEST_ACCESS_KEY_ID ?? "",
      secretAccessKey: process.env.S3_TEST_SECRET_ACCESS_KEY ?? "",
    }
  : undefined;

/**
 * `describe` when an S3 server is there; else one test that says so — failing where
 * REQUIRE_S3_TESTS is set (CI), skipped loudly elsewhere.
 */
export function describeWithS3(name: string, body: () => void): void {
  if (testS3) {
    describe(name, body);
    return;
  }
  const why =
    "no S3 server: set S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY, run a Docker engine " +
    "(Testcontainers starts MinIO), or start Swift with `bash tools/object-store/swift-s3.sh install start` and " +
    '`eval "$(bash tools/object-store/swift-s3.sh env)"`';
  if (process.env.REQUIRE_S3_TESTS) {
    test(`${name}: needs S3`, () => {
      throw new Error(why);
    });
    return;
  }
  console.warn(`SKIPPED ${name}: ${why}`);
  describe.skip(name, () => test("needs S3", () => undefined));
}

/** A client of the test S3. */
export function testS3Client(): S3Client {
  if (!testS3) throw new Error("no S3 server for the tests");
  const { endpoint, region, accessKeyId, secretAccessKey } = testS3;
  return createS3Client({ forcePathStyle: true, endpoint, region, credentials: { accessKeyId, secretAccessKey } });
}

/** A new empty bucket; `dispose` empties and removes it. */
export async function createTestBucket(client: S3Client): Promise<{ bucket: string; dispose(): Promise<void> }> {
  const bucket = `files-test-${randomUUID().slice(0, 18)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { bucket, dispose: () => removeBucket(client, bucket) };
}

/** Aborts every multipart upload and deletes every object of `bucket` under `prefix`. */
export async function emptyBucket(client: S3Client, bucket: string, prefix = ""): Promise<void> {
  // Listed from the start each time: the aborted ones are gone (Swift's s3api leaves the Next markers empty).
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    const uploads = page.Uploads ?? [];
    await Promise.all(
      uploads.map((u) =>
        client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })),
      ),
    );
    if (!page.IsTruncated || uploads.length === 0) break;
  }
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix }))
    await Promise.all(
      (page.Contents ?? []).map((o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }))),
    );
}

async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  await emptyBucket(client, bucket);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** The environment that points a server process at `s3://bucket/prefix` on the test S3. */
export function s3ServerEnv(bucket: string, prefix = "", partSize = "5MiB"): Record<string, string> {
  if (!testS3) throw new Error("no S3 server for the tests");
  return {
    BLOB_STORE: `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
    AWS_ENDPOINT_URL: testS3.endpoint,
    AWS_REGION: testS3.region,
    AWS_ACCESS_KEY_ID: testS3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: testS3.secretAccessKey,
    S3_PART_SIZE: partSize,
  };
}
