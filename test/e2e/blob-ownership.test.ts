/**
 * A blob directory belongs to one database, as a user meets it through `npm start`: the
 * zero-configuration start (embedded Postgres, ./data/blobs) claims its directory, and a start on
 * another database or schema with the same directory is refused before it can sweep, write or
 * serve anything there. Before, such a start swept the first database's content as "orphans".
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { freePort } from "../support/free-port.js";
import { listening, npmStart, stopEverything, within, type NpmServer, type NpmStart } from "../support/npm-start.js";
import { content, download, sha256, uploadFile } from "../support/uploads.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

let dir: string;
let blobDir: string;
let embedded: Record<string, string>;
const dbs: TestDatabase[] = [];
const starts: NpmStart[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "files-ownership-"));
  await chmod(dir, 0o755); // as root, the embedded Postgres runs as user "postgres" and must enter it
  blobDir = path.join(dir, "blobs");
  embedded = {
    DATABASE_URL: "",
    EMBEDDED_POSTGRES_DIR: path.join(dir, "pg"),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    BLOB_DIR: blobDir,
  };
});
afterAll(async () => {
  await stopEverything(starts, embedded.EMBEDDED_POSTGRES_DIR);
  for (const db of dbs) await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<NpmServer> {
  const started = npmStart(env);
  starts.push(started);
  return listening(started);
}

/** A start that must fail: its exit code and log. */
async function refusedStart(env: Record<string, string>): Promise<{ code: number | string; log: string }> {
  const started = npmStart(env);
  starts.push(started);
  const code = await within(started.exited, 30_000, "the refused start's exit");
  return { code, log: started.log.join("\n") };
}

async function stop(server: NpmServer): Promise<void> {
  server.child.kill("SIGTERM");
  expect(await within(server.exited, 15_000, "a stop after SIGTERM")).toBe(0);
}

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  dbs.push(db);
  return db;
}

/** `npm run fsck` with these settings: exit code and report. */
async function fsck(env: Record<string, string>) {
  return run("npm", ["run", "--silent", "fsck"], { cwd: root, env: { ...process.env, ...env } }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout + err.stderr }),
  );
}

test("the zero-config start owns ./data/blobs: a start on another database with it is refused, and nothing is swept", async () => {
  const data = content(200_000);
  let server = await start(embedded);
  await uploadFile(server.client, "mine", "photo.bin", data);
  await stop(server);
  const blobsBefore = await readdir(path.join(blobDir, "blobs"), { recursive: true });

  // The user sets DATABASE_URL and forgets BLOB_DIR: the sweep (every second here) would run at once.
  const other = await database();
  const refused = await refusedStart({
    DATABASE_URL: other.url,
    DATABASE_SCHEMA: other.schema,
    BLOB_DIR: blobDir,
    SWEEP_INTERVAL_SECONDS: "1",
  });
  expect(refused.code).toBe(1);
  expect(refused.log).toMatch(
    /blob directory .*blobs belongs to another database \(the embedded Postgres in .*pg, schema public, claimed [^)]*\), not to 127\.0\.0\.1:5432\/postgres, schema test_\w+/,
  );
  expect(refused.log).toMatch(
    /Choose: give this database a store of its own with BLOB_DIR \(--blob-dir\), or set DATABASE_URL \/ DATABASE_SCHEMA/,
  );
  expect(await readdir(path.join(blobDir, "blobs"), { recursive: true })).toEqual(blobsBefore);
  const owner = JSON.parse(await readFile(path.join(blobDir, "owner.json"), "utf8"));
  expect(owner.database).toMatch(/^the embedded Postgres in .*pg, schema public$/);

  // Back on the zero-config default, everything is where it was.
  server = await start(embedded);
  expect(sha256((await download(server.client, "mine", "photo.bin")).data)).toBe(sha256(data));
  const check = await fsck({ ...embedded, EMBEDDED_POSTGRES_PORT: embedded.EMBEDDED_POSTGRES_PORT });
  expect(check).toMatchObject({ code: 0 });
  expect(check.stdout).toMatch(/^clean$/m);
  await stop(server);
}, 120_000);

test("two schemas of one database cannot share a blob directory; the owner's replicas can", async () => {
  const shared = path.join(dir, "shared-blobs");
  const [a, b] = [await database(), await database()];
  const data = content(50_000);
  const first = await start({ DATABASE_URL: a.url, DATABASE_SCHEMA: a.schema, BLOB_DIR: shared });
  await uploadFile(first.client, "a", "kept.bin", data);
  // A second server of the same database and directory (a replica) is welcome.
  const replica = await start({ DATABASE_URL: a.url, DATABASE_SCHEMA: a.schema, BLOB_DIR: shared });
  expect(sha256((await download(replica.client, "a", "kept.bin")).data)).toBe(sha256(data));

  const refused = await refusedStart({
    DATABASE_URL: b.url,
    DATABASE_SCHEMA: b.schema,
    BLOB_DIR: shared,
    SWEEP_INTERVAL_SECONDS: "1",
  });
  expect(refused.code).toBe(1);
  expect(refused.log).toContain(`belongs to another database (127.0.0.1:5432/postgres, schema ${a.schema}, claimed `);
  expect(refused.log).toContain(`not to 127.0.0.1:5432/postgres, schema ${b.schema}`);
  expect(sha256((await download(first.client, "a", "kept.bin")).data)).toBe(sha256(data));
  await stop(replica);
  await stop(first);
}, 60_000);

test("a database whose files are in one directory is refused another one, instead of losing them", async () => {
  const db = await database();
  const server = await start({ DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema, BLOB_DIR: path.join(dir, "first") });
  await uploadFile(server.client, "a", "file.bin", content(1000));
  await stop(server);
  const refused = await refusedStart({
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: path.join(dir, "second"),
  });
  expect(refused.code).toBe(1);
  expect(refused.log).toMatch(
    /schema test_\w+ keeps its content in another blob store, not in the blob directory .*second\. Starting here would leave its files' content behind/,
  );
}, 60_000);
