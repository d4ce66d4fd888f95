/**
 * Load: 120 concurrent uploads of random sizes (half gRPC, half REST) while readers list, read,
 * download and delete, against a real server process. Every upload verifies by sha256 and the
 * consistency check afterwards finds every row backed by the right content and no content without
 * a row. The figures (throughput, metadata-call p99) are printed; `npm run load` runs it larger.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { formatLoadReport, runLoad } from "../../bench/load.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

let db: TestDatabase;
let blobDir: string;
let server: ServerProcess;
beforeAll(async () => {
  db = await createTestDatabase();
  blobDir = await mkdtemp(path.join(tmpdir(), "files-load-"));
  server = await startServerProcess({
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: blobDir,
    DATABASE_POOL_MAX: "20",
  });
});
afterAll(async () => {
  server?.child.kill("SIGTERM");
  await server?.exited;
  await db?.drop();
  await rm(blobDir, { recursive: true, force: true });
});

test("120 concurrent uploads over gRPC and REST with readers and deleters: all verified, store consistent", async () => {
  const report = await runLoad(
    server.port,
    { databaseUrl: db.url, schema: db.schema, blobDir },
    { uploads: 120, maxSize: 1024 * 1024, readers: 6 },
    server.log,
  );
  console.log(formatLoadReport(report));
  expect(report.failures).toEqual([]);
  expect(report.verified).toBe(120);
  expect(report.consistency.checked.files).toBe(120 + report.seeded - report.deleted);
  expect(report.latencies.GetFile?.count ?? 0).toBeGreaterThan(0);
  // The server's own timings come from its call log: one line per call the readers made.
  expect(report.serverLatencies.GetFile?.count ?? 0).toBeGreaterThanOrEqual(report.latencies.GetFile!.count);
}, 120_000);
