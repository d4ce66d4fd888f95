/**
 * What startTestApp needs to run a suite on the test S3 (TEST_BLOB_STORE=s3): a prefix of its own
 * in one bucket per test file, and a count of the bytes the service hands to the store.
 */
import { randomUUID } from "node:crypto";
import type { BlobStore } from "../../src/store/blobs/blob-store.js";
import { createTestBucket, emptyBucket, s3ServerEnv, testS3, testS3Client } from "./s3.js";

/**
 * Makes the test file's one bucket (Swift makes a bucket slowly: each app gets a prefix in it
 * instead); answers how to remove it, which the file registers after its suite's own hooks.
 */
export async function useTestBucket(): Promise<() => Promise<void>> {
  const made = await createTestBucket(testS3Client());
  process.env.TEST_S3_BUCKET = made.bucket;
  return made.dispose;
}

/**
 * A fresh `s3://bucket/prefix` for one app, with the AWS settings in this process's environment
 * (where the SDK reads them); `dispose` removes what the app left under its prefix.
 */
export async function testS3Location(): Promise<{ url: string; dispose(): Promise<void> }> {
  const name = process.env.TEST_S3_BUCKET;
  if (!testS3 || !name) throw new Error("TEST_BLOB_STORE=s3 needs a test S3 and useTestBucket() (see test/e2e/on-s3/)");
  const client = testS3Client();
  const prefix = `app-${randomUUID()}`;
  const env = s3ServerEnv(name, prefix);
  for (const key of ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
    process.env[key] = env[key];
  return { url: env.BLOB_STORE, dispose: () => emptyBucket(client, name, `${prefix}/`) };
}

/**
 * `store`, counting the bytes handed to each session's open appender: the offset it was opened at
 * plus what was written since. With no appender open, the store's own partialSize answers.
 */
export function countingWrites(store: BlobStore): { store: BlobStore; bytes(id: string): Promise<number | undefined> } {
  const open = new Map<string, number>();
  return {
    store: {
      ...store,
      async openAppend(id, offset, declaredSize) {
        const appender = await store.openAppend(id, offset, declaredSize);
        let at = offset;
        open.set(id, at);
        // Delegated one by one: an appender may be a class instance, whose methods a spread would lose.
        return {
          checkpointAlignment: appender.checkpointAlignment,
          sync: (length) => appender.sync(length),
          write: (data) => {
            at += data.byteLength;
            open.set(id, at);
            return appender.write(data);
          },
          truncate: async (length) => {
            await appender.truncate(length);
            at = length;
            open.set(id, at);
          },
          close: async () => {
            await appender.close();
            if (open.get(id) === at) open.delete(id);
          },
        };
      },
    },
    bytes: async (id) => open.get(id) ?? (await store.partialSize(id)),
  };
}
