/** Stops the Testcontainers Postgres and MinIO if global setup started them. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__postgresContainer?.stop();
  await globalThis.__minioContainer?.stop();
}
