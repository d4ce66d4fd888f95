/**
 * Finds the Postgres the integration tests run against, once per run:
 * 1. DATABASE_URL, when set (CI and this machine: the local Postgres);
 * 2. else a Testcontainers Postgres, when a Docker engine answers;
 * 3. else the run fails here, saying what to set — integration tests never run against a mock.
 * Each test file then makes its own schema in that database (see test/support/database.ts).
 *
 * And the S3 the S3 tests run against (test/support/s3.ts): S3_TEST_ENDPOINT when set (CI starts
 * Swift with tools/object-store/swift-s3.sh), else a Testcontainers MinIO when a Docker engine
 * answers, else those tests say loudly that they are skipped (and fail where REQUIRE_S3_TESTS is set).
 */
import type { StartedMinioContainer } from "@testcontainers/minio";
import type { StartedPostgreSqlContainer } from "@testcontainers/postgresql";

declare global {
  // Handed from setup to teardown (same process).
  var __postgresContainer: StartedPostgreSqlContainer | undefined;
  var __minioContainer: StartedMinioContainer | undefined;
}

export default async function globalSetup(): Promise<void> {
  await findS3();
  if (process.env.DATABASE_URL) return;
  let dockerError: unknown;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
  } catch (err) {
    dockerError = err;
  }
  if (dockerError) {
    throw new Error(
      "The integration tests need a real Postgres. Set DATABASE_URL (for example " +
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test), or run a Docker engine " +
        `so that Testcontainers can start one. (Docker: ${dockerError instanceof Error ? dockerError.message : String(dockerError)})`,
    );
  }
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const container = await new PostgreSqlContainer("postgres:16-alpine").start();
  globalThis.__postgresContainer = container;
  // Workers start after global setup and inherit this environment.
  process.env.DATABASE_URL = container.getConnectionUri();
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function findS3(): Promise<void> {
  if (process.env.S3_TEST_ENDPOINT || !(await dockerAnswers())) return;
  const { MinioContainer } = await import("@testcontainers/minio");
  const container = await new MinioContainer("quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z").start();
  globalThis.__minioContainer = container;
  process.env.S3_TEST_ENDPOINT = container.getConnectionUrl();
  process.env.S3_TEST_REGION = "us-east-1";
  process.env.S3_TEST_ACCESS_KEY_ID = container.getUsername();
  process.env.S3_TEST_SECRET_ACCESS_KEY = container.getPassword();
}
