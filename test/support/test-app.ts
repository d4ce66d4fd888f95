/**
 * Starts the real service in-process on a free port, on its own schema and blob directory, with
 * generated Connect clients for both transports the tests drive it with: gRPC over HTTP/2 and the
 * Connect protocol over HTTP/1.1. With TEST_BLOB_STORE=s3 (test/e2e/on-s3/), the content goes to a
 * prefix of its own in a bucket of the test S3 instead, and the same suites run against it.
 */
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { startApp, type App, type AppOverrides } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { openContentStore } from "../../src/store/blobs/content-store.js";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { countingWrites, testS3Location } from "./test-app-s3.js";
import { partialBytes } from "./uploads.js";

/** A running service under test. */
export interface TestApp {
  app: App;
  config: Config;
  db: TestDatabase;
  baseUrl: string;
  blobDir: string;
  /**
   * Bytes of a session's content the service has handed to its store (written, synced or not), or
   * undefined when it has none: what a test waits on to know the server has received them.
   */
  storedBytes(uploadId: string): Promise<number | undefined>;
  /** Ids of the store's blobs and of its partial contents. */
  blobIds(): Promise<string[]>;
  partialIds(): Promise<string[]>;
  /** The transports, by name, for `describe.each`. */
  transports: Record<TransportName, Transport>;
  client(transport: TransportName): Client<typeof FilesService>;
  close(): Promise<void>;
}

export type TransportName = "grpc (HTTP/2)" | "connect (HTTP/1.1)";
export const transportNames: TransportName[] = ["grpc (HTTP/2)", "connect (HTTP/1.1)"];

/**
 * Starts the service; `settings` are flags as on the command line (e.g. { "session-ttl-seconds": "1" }).
 * `overrides` may be a function of the configuration, to wrap stores built on its blob directory.
 * `logLine` receives the service's log lines (else they are dropped, or printed with TEST_LOG set).
 */
export async function startTestApp(
  settings: Record<string, string> = {},
  overrides: AppOverrides | ((config: Config) => Promise<AppOverrides>) = {},
  logLine?: (line: string) => void,
): Promise<TestApp> {
  const db = await createTestDatabase();
  const blobDir = await mkdtemp(path.join(tmpdir(), "files-blobs-"));
  const s3 = process.env.TEST_BLOB_STORE === "s3" ? await testS3Location() : undefined;
  const flags = {
    port: "0",
    "database-url": db.url,
    "database-schema": db.schema,
    "blob-dir": blobDir,
    "sweep-interval-seconds": "0",
    ...(s3 ? { "blob-store": s3.url, "s3-part-size": "5MiB" } : {}),
    ...settings,
  };
  const config = loadConfig(
    Object.entries(flags).map(([k, v]) => `--${k}=${v}`),
    {},
  );
  const log = logLine ? createLogger({ write: logLine }) : createLogger({ silent: !process.env.TEST_LOG });
  const chosen = typeof overrides === "function" ? await overrides(config) : overrides;
  // On S3, what the service has handed to the store is counted on the way (an object store shows
  // nothing of a part being filled); a directory shows it in the partial file itself.
  const counted = s3 ? countingWrites(chosen.blobs ?? (await openContentStore(config))) : undefined;
  const app = await startApp(config, log, counted ? { ...chosen, blobs: counted.store } : chosen);
  const list = async (ids: AsyncIterable<string>) => {
    const out: string[] = [];
    for await (const id of ids) out.push(id);
    return out.sort();
  };
  const baseUrl = `http://127.0.0.1:${app.port}`;
  const transports: Record<TransportName, Transport> = {
    "grpc (HTTP/2)": createGrpcTransport({ baseUrl }),
    "connect (HTTP/1.1)": createConnectTransport({ baseUrl, httpVersion: "1.1" }),
  };
  return {
    app,
    config,
    db,
    baseUrl,
    blobDir,
    transports,
    client: (name) => createClient(FilesService, transports[name]),
    storedBytes: (id) => (counted ? counted.bytes(id) : partialBytes(blobDir, id)),
    blobIds: () => list(app.blobs.listBlobs()),
    partialIds: () => list(app.blobs.listPartials()),
    async close() {
      await app.close();
      await db.drop();
      await rm(blobDir, { recursive: true, force: true });
      await s3?.dispose();
    },
  };
}
