/**
 * The service as a real child process (`node --import tsx src/main.ts`), for the tests that kill
 * it or signal it. It learns its port from the "listening" log line.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { createTestDatabase, type TestDatabase } from "./database.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** A running server process. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  client: Client<typeof FilesService>;
  /** Everything it logged. */
  log: string[];
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
}

/**
 * Starts the server with these environment settings and waits until it listens. `entry` is the
 * script to run, relative to the repository (default the real one, src/main.ts).
 */
export async function startServerProcess(env: Record<string, string>, entry = "src/main.ts"): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, entry)], {
    cwd: root,
    env: { ...process.env, PORT: "0", SWEEP_INTERVAL_SECONDS: "0", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (line) => {
      log.push(line);
      const m = /"message":"listening"/.test(line) ? /"url":"http:\/\/[^"]*:(\d+)"/.exec(line) : null;
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${log.join("\n")}`)));
  });
  const client = createClient(FilesService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  return { child, port, client, log, exited };
}

/** How a server process that was expected to fail ended. */
export interface FailedStart {
  /** Exit code (or signal name). */
  exit: number | string;
  /** Everything it logged, one JSON object a line. */
  log: string[];
}

/**
 * Starts the server with these environment settings when it is expected not to come up: answers
 * how it exited and what it logged. Fails if it is still running after `timeoutMs`.
 */
export async function failedStart(env: Record<string, string>, timeoutMs = 20_000): Promise<FailedStart> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "src/main.ts")], {
    cwd: root,
    env: { ...process.env, PORT: "0", SWEEP_INTERVAL_SECONDS: "0", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => log.push(line));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  // "close", not "exit": by then every line it wrote has been read.
  const exit = await new Promise<number | string>((resolve) =>
    child.once("close", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  clearTimeout(timer);
  return { exit, log };
}

/** A server process with a database schema and a directory of its own, and one key for every bucket. */
export interface KeyedServer {
  server: ServerProcess;
  db: TestDatabase;
  /** Its directory: the blobs under blobs/, and room for the test's own files. */
  dir: string;
  baseUrl: string;
  /** Stops the server (gracefully), drops the schema and removes the directory. */
  stop(): Promise<void>;
}

/** Starts a {@link KeyedServer} whose one key `apiKey` may read and write every bucket. */
export async function startKeyedServer(
  name: string,
  apiKey: string,
  env: Record<string, string> = {},
): Promise<KeyedServer> {
  const db = await createTestDatabase();
  const dir = await mkdtemp(path.join(tmpdir(), `files-${name}-`));
  const server = await startServerProcess({
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: path.join(dir, "blobs"),
    API_KEYS: `${apiKey}:rw:*`,
    SHUTDOWN_GRACE_SECONDS: "1",
    ...env,
  });
  return {
    server,
    db,
    dir,
    baseUrl: `http://127.0.0.1:${server.port}`,
    async stop() {
      if (server.child.exitCode === null) {
        server.child.kill("SIGTERM");
        await server.exited;
      }
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
