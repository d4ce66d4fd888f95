/**
 * Finds the Postgres the integration tests run against, once per run:
 * 1. DATABASE_URL, when set (CI and this machine: the local Postgres);
 * 2. else a Testcontainers Postgres, when a Docker engine answers;
 * 3. else the run fails here, saying what to set — integration tests never run against a mock.
 * Each test file then makes its own schema in that database (see test/support/database.ts).
 */
import type { StartedPostgreSqlContainer } from "@testcontainers/postgresql";

declare global {
  // Handed from setup to teardown (same process).
  var __postgresContainer: StartedPostgreSqlContainer | undefined;
}

export default async function globalSetup(): Promise<void> {
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
