/**
 * The zero-configuration path of `npm start`: no DATABASE_URL, so the server runs its embedded
 * Postgres. A SIGKILLed server leaves that Postgres orphaned with a stale postmaster.pid; the next
 * start must clear it and find every file where it was.
 */
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { content, download, sha256, uploadFile } from "../support/uploads.js";
import { freePort } from "../support/free-port.js";

let dir: string;
let env: Record<string, string>;
const servers: ServerProcess[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "files-zero-config-"));
  await chmod(dir, 0o755); // as root, the embedded Postgres runs as user "postgres" and must enter it
  env = {
    DATABASE_URL: "",
    EMBEDDED_POSTGRES_DIR: path.join(dir, "pg"),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    BLOB_DIR: path.join(dir, "blobs"),
  };
});
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGTERM");
  await Promise.all(servers.map((s) => s.exited));
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const server = await startServerProcess(env);
  servers.push(server);
  return server;
}

test("embedded Postgres: serves, survives a SIGKILLed parent, stops with the server", async () => {
  const data = content(100_000);
  let server = await start();
  await uploadFile(server.client, "zero", "config.bin", data);

  server.child.kill("SIGKILL");
  await server.exited;
  const stalePid = Number(
    (await readFile(path.join(env.EMBEDDED_POSTGRES_DIR, "postmaster.pid"), "utf8")).split("\n")[0],
  );
  expect(alive(stalePid)).toBe(true); // the orphan the next start has to deal with

  server = await start();
  expect(sha256((await download(server.client, "zero", "config.bin")).data)).toBe(sha256(data));
  server.child.kill("SIGTERM");
  expect(await server.exited).toBe(0);
  const pidFile = await readFile(path.join(env.EMBEDDED_POSTGRES_DIR, "postmaster.pid"), "utf8").catch(() => undefined);
  expect(pidFile).toBeUndefined(); // the embedded Postgres stopped with the server
}, 120_000);

test("a taken embedded Postgres port fails the start with a message that says what to do", async () => {
  const blocker = net.createServer().listen(Number(env.EMBEDDED_POSTGRES_PORT), "127.0.0.1");
  await new Promise((r) => blocker.once("listening", r));
  try {
    await expect(start()).rejects.toThrow(/port \d+ on 127.0.0.1 is already in use/);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});
