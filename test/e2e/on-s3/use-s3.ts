/**
 * The end-to-end suites that matter most for content, run unchanged on the test S3: each file here
 * runs one of them through {@link runOnS3}. startTestApp reads TEST_BLOB_STORE when each app starts.
 * Without an S3 server the file says so loudly instead (and fails in CI, where REQUIRE_S3_TESTS is set).
 */
import { describeWithS3, testS3 } from "../../support/s3.js";
import { useTestBucket } from "../../support/test-app-s3.js";

/** Runs the suite that `load` imports with its content on S3, in a bucket removed after its own hooks. */
export async function runOnS3(name: string, load: () => Promise<unknown>): Promise<void> {
  if (!testS3) {
    describeWithS3(`${name} on S3`, () => undefined);
    return;
  }
  process.env.TEST_BLOB_STORE = "s3";
  const removeBucket = await useTestBucket();
  await load();
  // Registered after the suite's afterAll hooks, so it runs after them (its apps close first).
  afterAll(removeBucket);
}
