/**
 * The consistency check and its repair against a real Postgres and a real blob directory, with
 * each kind of damage made by hand; and the `npm run fsck` command line on top of them.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { appendFile, mkdtemp, open, readdir, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { checkConsistency, type ConsistencyDeps } from "../../src/fsck/consistency.js";
import { repairFindings } from "../../src/fsck/repair.js";
import { bindContentStore } from "../../src/store/blob-ownership.js";
import type { BlobStore } from "../../src/store/blobs/blob-store.js";
import { recordContentFault } from "../../src/store/postgres/content-faults.js";
import { countPendingRemovals } from "../../src/store/postgres/content-removals.js";
import { deleteFile, findFile } from "../../src/store/postgres/file-rows.js";
import { createDirectoryBlobStore } from "../../src/store/blobs/directory-blob-store.js";
import { createSessionLocks, type SessionLocks } from "../../src/store/postgres/session-locks.js";
import { insertSession, moveOffset } from "../../src/store/postgres/upload-sessions.js";
import { declaredSize } from "../support/blob-store-contract.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

let db: TestDatabase;
let dir: string;
let blobs: BlobStore;
let locks: SessionLocks;
let deps: ConsistencyDeps;
const otherLocks: SessionLocks[] = [];

beforeEach(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "files-fsck-"));
  blobs = await createDirectoryBlobStore(dir);
  locks = createSessionLocks(db.url, db.schema);
  deps = { sql: db.sql, blobs, locks };
});
afterEach(async () => {
  for (const l of otherLocks.splice(0)) await l.close();
  await locks.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const blobPath = (id: string) => path.join(dir, "blobs", id.slice(0, 2), id);
const partialPath = (id: string) => path.join(dir, "partial", id);

/** Writes `data` as partial content of `id` (of a session of `size` bytes), fsynced. */
async function writePartial(id: string, data: Buffer, size = declaredSize): Promise<void> {
  const a = await blobs.openAppend(id, 0, size);
  await a.write(data);
  await a.sync();
  await a.close();
}

/** A stored file, as a completed upload leaves it: a blob and a row. Answers its blob id. */
async function addFile(key: string, data: Buffer): Promise<string> {
  const id = randomUUID();
  await writePartial(id, data);
  await blobs.commit(id, data.length);
  await blobs.discardPartial(id);
  const sha256 = createHash("sha256").update(data).digest();
  await db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id)
               values ('b', ${key}, 'application/octet-stream', ${data.length}, ${sha256}, ${id})`;
  return id;
}

/** A live session of `size` bytes with `data` committed. Answers its id. */
async function addSession(key: string, size: number, data: Buffer): Promise<string> {
  const id = randomUUID();
  await insertSession(
    db.sql,
    { id, bucket: "b", key, mimeType: "application/octet-stream", size, expectedSha256: null },
    3600,
    { maxOpen: 1_000_000, maxOpenPerOwner: 1_000_000, maxPendingBytesPerOwner: 2 ** 50 },
  );
  if (data.length > 0) {
    await writePartial(id, data, size);
    await moveOffset(db.sql, id, 0, 0, data.length, 3600);
  }
  return id;
}

/** Every kind of damage, made by hand beside healthy files and sessions; answers the ids. */
async function damage() {
  await addFile("healthy/1", randomBytes(1000));
  await addFile("healthy/empty", Buffer.alloc(0));
  await addSession("healthy-session", 100, randomBytes(40));
  await addSession("fresh-session", 100, Buffer.alloc(0));
  const missing = await addFile("missing", randomBytes(10));
  await rm(blobPath(missing));
  const wrongSize = await addFile("wrong-size", randomBytes(10));
  await appendFile(blobPath(wrongSize), "x");
  const wrongHash = await addFile("wrong-hash", randomBytes(3 * 1024 * 1024)); // hashed in several reads
  // Flip the last byte's bits: writing a fixed value would change nothing when it is already there.
  const handle = await open(blobPath(wrongHash), "r+");
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, 3 * 1024 * 1024 - 1);
  await handle.write(Buffer.from([last[0] ^ 0xff]), 0, 1, 3 * 1024 * 1024 - 1);
  await handle.close();
  const short = await addSession("short", 100, randomBytes(50));
  await truncate(partialPath(short), 20);
  const gone = await addSession("gone", 100, randomBytes(50));
  await rm(partialPath(gone));
  const long = await addSession("long", 100, randomBytes(50));
  await appendFile(partialPath(long), randomBytes(30));
  const orphanBlob = randomUUID();
  await writePartial(orphanBlob, randomBytes(7));
  await blobs.commit(orphanBlob, 7);
  await blobs.discardPartial(orphanBlob);
  const orphanPartial = randomUUID();
  await writePartial(orphanPartial, randomBytes(5));
  return { missing, wrongSize, wrongHash, short, gone, long, orphanBlob, orphanPartial };
}

test("a healthy store is clean", async () => {
  await addFile("a", randomBytes(2000));
  await addFile("b/c", randomBytes(1));
  await addSession("s", 10, randomBytes(4));
  const report = await checkConsistency(deps);
  expect(report.findings).toEqual([]);
  expect(report.checked).toEqual({ files: 2, sessions: 1, blobs: 2, partials: 1, bytesHashed: 2001 });
});

test("every row and every piece of content is checked, page after page", async () => {
  // Keys that sort differently bytewise and by locale, across buckets, and more than one page of each.
  for (const key of ["a", "B", "b/a", "b/B", "_", "z"]) await addFile(key, randomBytes(3));
  await db.sql`update files set bucket = 'c' where key in ('b/a', 'z')`;
  for (const key of ["s1", "s2", "s3"]) await addSession(key, 10, randomBytes(2));
  const d = await damage();
  const paged = await checkConsistency(deps, { batchSize: 2 });
  const whole = await checkConsistency(deps);
  expect(paged.checked).toEqual(whole.checked);
  expect(paged.checked).toMatchObject({ files: 11, sessions: 8, blobs: 11 });
  expect(paged.findings.map((f) => f.id).sort()).toEqual(whole.findings.map((f) => f.id).sort());
  expect(paged.findings.map((f) => f.id)).toContain(d.missing);
});

test("each kind of damage made by hand is found, and only that", async () => {
  const d = await damage();
  const report = await checkConsistency(deps);
  const found = report.findings.map((f) => [f.kind, f.id, f.severity, f.repairable]);
  expect(found.sort()).toEqual(
    [
      ["missing-blob", d.missing, "problem", false],
      ["blob-size", d.wrongSize, "problem", false],
      ["blob-sha256", d.wrongHash, "problem", false],
      ["short-partial", d.short, "problem", false],
      ["short-partial", d.gone, "problem", false],
      ["long-partial", d.long, "note", true],
      ["orphan-blob", d.orphanBlob, "problem", true],
      ["orphan-partial", d.orphanPartial, "problem", true],
    ].sort(),
  );
  expect(report.findings.find((f) => f.id === d.short)?.detail).toMatch(
    /committed offset 50, but its partial content has only 20 bytes/,
  );
  expect(report.findings.find((f) => f.id === d.gone)?.detail).toMatch(/partial content is missing/);
  expect(report.findings.find((f) => f.id === d.wrongSize)?.detail).toMatch(/has 11 bytes, the row says 10/);
  // Sizes only: the wrong hash goes unseen, everything else is still found.
  const quick = await checkConsistency(deps, { hash: false });
  expect(quick.findings.map((f) => f.kind)).not.toContain("blob-sha256");
  expect(quick.findings).toHaveLength(7);
});

test("repair removes orphans and cuts long partials, and touches nothing a row refers to", async () => {
  const d = await damage();
  const rowsBefore = await db.sql`select * from files order by key`;
  const report = await checkConsistency(deps);
  await repairFindings(deps, report);
  const outcome = Object.fromEntries(
    report.findings.map((f) => [f.kind + (f.kind === "short-partial" ? `:${f.id}` : ""), f.repair]),
  );
  expect(outcome).toMatchObject({
    "orphan-blob": "removed",
    "orphan-partial": "removed",
    "long-partial": "truncated to 50 bytes",
  });
  expect(report.findings.filter((f) => !f.repairable).every((f) => f.repair === undefined)).toBe(true);

  expect(await blobs.size(d.orphanBlob)).toBeUndefined();
  expect(await blobs.partialSize(d.orphanPartial)).toBeUndefined();
  expect(await blobs.partialSize(d.long)).toBe(50);
  // The damaged files keep their rows and whatever content they have, for an operator.
  expect(await db.sql`select * from files order by key`).toEqual(rowsBefore);
  expect(await blobs.size(d.wrongSize)).toBe(11);
  expect(await blobs.size(d.wrongHash)).toBe(3 * 1024 * 1024);
  expect(await blobs.partialSize(d.short)).toBe(20);

  const again = await checkConsistency(deps);
  expect(again.findings.map((f) => f.kind).sort()).toEqual([
    "blob-sha256",
    "blob-size",
    "missing-blob",
    "short-partial",
    "short-partial",
  ]);
});

test("repair asks the database again first: content referred to since the check is left", async () => {
  const d = await damage();
  const report = await checkConsistency(deps);
  // A server gives both orphans a row between the check and the repair.
  await insertSession(
    db.sql,
    { id: d.orphanPartial, bucket: "b", key: "late", mimeType: "x/y", size: 5, expectedSha256: null },
    3600,
    { maxOpen: 1_000_000, maxOpenPerOwner: 1_000_000, maxPendingBytesPerOwner: 2 ** 50 },
  );
  await db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id)
               values ('b', 'late-file', 'x/y', 7, ${Buffer.alloc(32)}, ${d.orphanBlob})`;
  await repairFindings(deps, report);
  expect(report.findings.find((f) => f.id === d.orphanBlob)?.repair).toBe("left: referred to again");
  expect(report.findings.find((f) => f.id === d.orphanPartial)?.repair).toBe("left: its session exists again");
  expect(await blobs.size(d.orphanBlob)).toBe(7);
  expect(await blobs.partialSize(d.orphanPartial)).toBe(5);
});

test("a session being written is neither judged nor truncated", async () => {
  const d = await damage();
  const writer = createSessionLocks(db.url, db.schema); // another server process, writing `long`
  otherLocks.push(writer);
  const lease = await writer.tryAcquire(d.long);
  expect(lease).toBeDefined();
  const report = await checkConsistency(deps);
  expect(report.busySessions).toBe(1);
  expect(report.findings.map((f) => f.id)).not.toContain(d.long);

  await lease!.release();
  const later = await checkConsistency(deps);
  expect(later.findings.map((f) => f.id)).toContain(d.long);
  await writer.tryAcquire(d.long); // the writer is back before the repair
  await repairFindings(deps, later);
  expect(later.findings.find((f) => f.id === d.long)?.repair).toBe("left: being written");
  expect(await blobs.partialSize(d.long)).toBe(80);
});

test("a file replaced while it is checked is not reported", async () => {
  const old = await addFile("moving", randomBytes(100));
  const next = randomUUID();
  await writePartial(next, randomBytes(100));
  await blobs.commit(next, 100);
  await blobs.discardPartial(next);
  // The store answers for the old blob just after a server replaced the file and removed it.
  const racing: BlobStore = {
    ...blobs,
    async size(id) {
      if (id === old) {
        await db.sql`update files set blob_id = ${next}, sha256 = ${Buffer.alloc(32)} where key = 'moving'`;
        await blobs.delete(old);
      }
      return blobs.size(id);
    },
  };
  const report = await checkConsistency({ ...deps, blobs: racing }, { hash: false });
  expect(report.findings).toEqual([]);
});

test("content let go of but not yet removed is a note that --repair removes, never an orphan", async () => {
  const id = await addFile("doomed", randomBytes(9));
  await deleteFile(db.sql, "b", "doomed"); // the server died before removing the content
  const report = await checkConsistency(deps);
  expect(report.findings.map((f) => [f.kind, f.id, f.severity])).toEqual([["pending-removal", id, "note"]]);
  await repairFindings(deps, report);
  expect(report.findings[0].repair).toBe("removed");
  expect(await blobs.size(id)).toBeUndefined();
  expect(await countPendingRemovals(db.sql)).toBe(0);
});

test("a fault a server recorded is a note, forgotten by --repair once the content is whole again", async () => {
  const data = randomBytes(9);
  const id = await addFile("flaky", data);
  const row = (await findFile(db.sql, "b", "flaky"))!;
  await recordContentFault(db.sql, row, "content missing");
  await recordContentFault(db.sql, row, "content missing");
  await rm(blobPath(id));
  const damaged = await checkConsistency(deps);
  expect(damaged.findings.map((f) => [f.kind, f.severity])).toEqual([
    ["missing-blob", "problem"],
    ["reported-fault", "note"],
  ]);
  expect(damaged.findings[1].detail).toMatch(/a server found file b\/flaky's content missing \(2 times, last /);
  await repairFindings(deps, damaged);
  expect(damaged.findings[1].repair).toBe("left: the content is still damaged");
  // The operator restores the content from a backup.
  await writePartial(id, data);
  await blobs.commit(id, data.length);
  await blobs.discardPartial(id);
  const restored = await checkConsistency(deps);
  await repairFindings(deps, restored);
  expect(restored.findings.map((f) => [f.kind, f.repair])).toEqual([
    ["reported-fault", "forgotten: the content is whole now"],
  ]);
  expect((await checkConsistency(deps)).findings).toEqual([]);
});

describe("npm run fsck", () => {
  // A server's first start claims its blob directory for its database; fsck checks that claim.
  beforeEach(async () => {
    await bindContentStore(db.sql, blobs, {
      database: "the test database",
      databaseSettings: "DATABASE_URL",
      store: "test directory",
      storeSettings: "BLOB_DIR",
    });
  });
  const fsck = (...args: string[]) =>
    run(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/fsck/main.ts",
        "--database-url",
        db.url,
        "--database-schema",
        db.schema,
        "--blob-dir",
        dir,
        ...args,
      ],
      {
        cwd: root,
      },
    ).then(
      ({ stdout }) => ({ code: 0, stdout, stderr: "" }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        stdout: err.stdout,
        stderr: err.stderr,
      }),
    );

  test("exit 0 and 'clean' on a healthy store; exit 1 and a report on a damaged one; --json", async () => {
    await addFile("fine", randomBytes(10));
    const clean = await fsck();
    expect(clean).toMatchObject({ code: 0 });
    expect(clean.stdout).toMatch(/^checked 1 file .*\nclean$/m);

    const d = await damage();
    const human = await fsck();
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(
      `problem  missing-blob    file b/missing: its blob ${d.missing} is missing  [needs an operator]`,
    );
    expect(human.stdout).toContain(
      `problem  orphan-blob     blob ${d.orphanBlob} (7 bytes): no file or upload session refers to it  [--repair removes it]`,
    );
    expect(human.stdout).toMatch(/^7 problems \(2 repairable with --repair, 5 for an operator\), 1 note$/m);

    const json = await fsck("--json");
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.problems).toBe(7);
    expect(report.findings).toHaveLength(8);
  });

  test("--repair removes the orphans; afterwards only what needs an operator is left", async () => {
    await damage();
    const repaired = await fsck("--repair");
    expect(repaired.code).toBe(1);
    expect(repaired.stdout).toMatch(/orphan-partial .*\[removed\]/);
    expect(repaired.stdout).toMatch(/long-partial .*\[truncated to 50 bytes\]/);
    const after = JSON.parse((await fsck("--json")).stdout);
    expect(after.findings.map((f: { kind: string }) => f.kind).sort()).toEqual([
      "blob-sha256",
      "blob-size",
      "missing-blob",
      "short-partial",
      "short-partial",
    ]);
  });

  test("exit 2 with a clear message when it cannot check", async () => {
    for (const wrong of [path.join(dir, "nope"), path.join(dir, "partial")]) {
      const noDir = await fsck("--blob-dir", wrong);
      expect(noDir.code).toBe(2);
      expect(noDir.stderr).toMatch(/is not a blob directory of this service/);
    }
    expect(await readdir(path.join(dir, "partial"))).toEqual([]); // nothing created in the wrong one
    const noTables = await fsck("--database-schema", "no_such_schema");
    expect(noTables.code).toBe(2);
    expect(noTables.stderr).toMatch(/schema "no_such_schema" has no files-service tables/);
    // Another schema: the directory belongs to the test's own database, and fsck must not call
    // all of its content orphans.
    const other = await createTestDatabase();
    try {
      const foreign = await fsck("--database-schema", other.schema);
      expect(foreign.code).toBe(2);
      expect(foreign.stderr).toMatch(
        /belongs to another database \(the test database, claimed .*\), not to 127\.0\.0\.1:5432\/postgres, schema test_/,
      );
    } finally {
      await other.drop();
    }
    const badFlag = await fsck("--frobnicate", "1");
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/unknown flag --frobnicate/);
  });
});
