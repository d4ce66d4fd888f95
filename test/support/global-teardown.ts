/** Stops the Testcontainers Postgres if global setup started one. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__postgresContainer?.stop();
}
