import { randomBytes, randomUUID } from "node:crypto";
import { readdir } from "node:fs/promises";
import { checkBucket, checkKey } from "../../src/files/request-validation.js";
import { connectDatabase, migrate, migrationLock, type Sql } from "../../src/store/postgres/database.js";
import { createTestDatabase, databaseUrl, type TestDatabase } from "../support/database.js";
import { acceptedBuckets, acceptedKeys, refusedBuckets, refusedKeys } from "../support/name-samples.js";

const migrationFiles = (await readdir(new URL("../../migrations/", import.meta.url)))
  .filter((f) => f.endsWith(".sql"))
  .sort();

/** Pools on brand-new (not yet existing) schemas, dropped after each test. */
let fresh: { sql: Sql; schema: string }[] = [];
function freshPool(
  schema = `test_${randomBytes(6).toString("hex")}`,
  statementTimeoutSeconds = 0,
): { sql: Sql; schema: string } {
  const entry = { sql: connectDatabase({ url: databaseUrl(), schema, max: 2, statementTimeoutSeconds }), schema };
  fresh.push(entry);
  return entry;
}
afterEach(async () => {
  for (const { sql, schema } of fresh) {
    await sql`drop schema if exists ${sql(schema)} cascade`.catch(() => undefined);
    await sql.end({ timeout: 5 });
  }
  fresh = [];
});

describe("migrate", () => {
  test("there is at least one migration file, named NNNNN_name.sql", () => {
    expect(migrationFiles.length).toBeGreaterThan(0);
    for (const f of migrationFiles) expect(f).toMatch(/^\d{5}_[\w-]+\.sql$/);
  });

  test("applies every file on a fresh schema, then nothing the second time", async () => {
    const { sql, schema } = freshPool();
    expect(await migrate(sql, schema)).toEqual(migrationFiles);
    expect(await migrate(sql, schema)).toEqual([]);
  });

  test("creates the schema and puts the tables in it, not in public", async () => {
    const { sql, schema } = freshPool();
    await migrate(sql, schema);
    const tables = await sql<{ tableName: string }[]>`
      select table_name from information_schema.tables where table_schema = ${schema} order by table_name`;
    expect(tables.map((t) => t.tableName)).toEqual([
      "content_faults",
      "content_removals",
      "deployment",
      "files",
      "schema_migrations",
      "upload_sessions",
    ]);
  });

  test("schema_migrations records each file", async () => {
    const { sql, schema } = freshPool();
    await migrate(sql, schema);
    const rows = await sql<{ version: number; name: string; appliedAt: Date }[]>`
      select version, name, applied_at from schema_migrations order by version`;
    expect(rows.map((r) => [r.version, r.name])).toEqual(migrationFiles.map((f) => [Number(f.slice(0, 5)), f]));
    for (const r of rows) expect(r.appliedAt).toBeInstanceOf(Date);
  });

  test("the pool's statement timeout applies to calls, not to migrations (nor to waiting for another starter's)", async () => {
    const schema = `test_${randomBytes(6).toString("hex")}`;
    const { sql } = freshPool(schema, 1);
    await expect(sql`select pg_sleep(1.5)`).rejects.toMatchObject({ code: "57014" });
    // Another starter migrating for 1.5 s: this one waits for it past its statement timeout.
    const other = freshPool(schema);
    let migrating!: () => void;
    const started = new Promise<void>((r) => (migrating = r));
    const slow = other.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${migrationLock(schema)}))`;
      migrating();
      await tx`select pg_sleep(1.5)`;
    });
    await started;
    expect(await migrate(sql, schema)).toEqual(migrationFiles);
    await slow;
    await expect(sql`select pg_sleep(1.5)`).rejects.toMatchObject({ code: "57014" }); // and back for calls
  });

  test("two concurrent migrate() calls on a brand-new schema both succeed, applying each file once", async () => {
    // Two pools stand for two server processes starting at the same moment.
    const schema = `test_${randomBytes(6).toString("hex")}`;
    const [one, two] = [freshPool(schema), freshPool(schema)];
    const results = await Promise.all([migrate(one.sql, schema), migrate(two.sql, schema)]);
    expect(results.flat().sort()).toEqual(migrationFiles);
    expect(results.some((r) => r.length === 0)).toBe(true);
    const [{ count }] = await one.sql`select count(*)::int as count from schema_migrations`;
    expect(count).toBe(migrationFiles.length);
  });

  test("many concurrent migrate() calls on one pool", async () => {
    const { sql, schema } = freshPool();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(sql, schema)));
    expect(results.flat().sort()).toEqual(migrationFiles);
  });

  test("different schemas migrate independently", async () => {
    const [a, b] = [freshPool(), freshPool()];
    const [ra, rb] = await Promise.all([migrate(a.sql, a.schema), migrate(b.sql, b.schema)]);
    expect(ra).toEqual(migrationFiles);
    expect(rb).toEqual(migrationFiles);
  });
});

describe("constraints", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  const sha = () => randomBytes(32);

  interface FileInsert {
    bucket: string;
    key: string;
    mimeType: string;
    bytes: number;
    sha256: Buffer;
  }
  function insertFile(overrides: Partial<FileInsert> = {}) {
    const f: FileInsert = {
      bucket: "b",
      key: `k/${randomUUID()}`,
      mimeType: "text/plain",
      bytes: 1,
      sha256: sha(),
      ...overrides,
    };
    return db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id)
                  values (${f.bucket}, ${f.key}, ${f.mimeType}, ${f.bytes}, ${f.sha256}, ${randomUUID()})`;
  }

  interface SessionInsert {
    bucket: string;
    key: string;
    mimeType: string;
    size: number;
    committedOffset: number;
    expectedSha256: Buffer | null;
  }
  function insertSession(overrides: Partial<SessionInsert> = {}) {
    const s: SessionInsert = {
      bucket: "b",
      key: "k",
      mimeType: "text/plain",
      size: 10,
      committedOffset: 0,
      expectedSha256: null,
      ...overrides,
    };
    return db.sql`insert into upload_sessions (id, bucket, key, mime_type, size, committed_offset, expected_sha256, expires_at)
                  values (${randomUUID()}, ${s.bucket}, ${s.key}, ${s.mimeType}, ${s.size}, ${s.committedOffset}, ${s.expectedSha256},
                          now() + interval '1 hour')`;
  }

  const checkViolation = { code: "23514" };

  test("a valid file and a valid session are accepted (the baseline of the tests below)", async () => {
    await expect(insertFile()).resolves.toBeDefined();
    await expect(insertSession()).resolves.toBeDefined();
    await expect(insertSession({ committedOffset: 10 })).resolves.toBeDefined(); // offset == size: complete
  });

  describe("files", () => {
    test.each(["a//b", "../x", "/a", "a/", ".", "..", "a/./b", "a/../b", "a b", "a\\b", "ａ", "k".repeat(1025), ""])(
      "key %j is refused",
      async (key) => {
        await expect(insertFile({ key })).rejects.toMatchObject(checkViolation);
      },
    );

    test.each(["my bucket", "b".repeat(64), "", "a/b", "a.b"])("bucket %j is refused", async (bucket) => {
      await expect(insertFile({ bucket })).rejects.toMatchObject(checkViolation);
    });

    test("negative bytes are refused", async () => {
      await expect(insertFile({ bytes: -1 })).rejects.toMatchObject(checkViolation);
    });

    test.each([31, 33, 0])("a sha256 of %d bytes is refused", async (n) => {
      await expect(insertFile({ sha256: randomBytes(n) })).rejects.toMatchObject(checkViolation);
    });

    test("an empty mime type is refused", async () => {
      await expect(insertFile({ mimeType: "" })).rejects.toMatchObject(checkViolation);
    });

    test("one blob per file: a second file on the same blob is refused", async () => {
      const blobId = randomUUID();
      await db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id) values ('b', ${`u1/${blobId}`}, 'x/y', 0, ${sha()}, ${blobId})`;
      await expect(
        db.sql`insert into files (bucket, key, mime_type, bytes, sha256, blob_id) values ('b', ${`u2/${blobId}`}, 'x/y', 0, ${sha()}, ${blobId})`,
      ).rejects.toMatchObject({ code: "23505" });
    });
  });

  describe("upload_sessions", () => {
    test("committed_offset past the size is refused", async () => {
      await expect(insertSession({ size: 10, committedOffset: 11 })).rejects.toMatchObject(checkViolation);
    });

    test("a negative committed_offset is refused", async () => {
      await expect(insertSession({ committedOffset: -1 })).rejects.toMatchObject(checkViolation);
    });

    test("a negative size is refused", async () => {
      await expect(insertSession({ size: -1, committedOffset: 0 })).rejects.toMatchObject(checkViolation);
    });

    test("an expected_sha256 of 31 bytes is refused", async () => {
      await expect(insertSession({ expectedSha256: randomBytes(31) })).rejects.toMatchObject(checkViolation);
    });

    test.each(["a//b", "../x"])("key %j is refused", async (key) => {
      await expect(insertSession({ key })).rejects.toMatchObject(checkViolation);
    });

    test("bucket with a space is refused", async () => {
      await expect(insertSession({ bucket: "my bucket" })).rejects.toMatchObject(checkViolation);
    });

    test("an update cannot move committed_offset past the size either", async () => {
      const id = randomUUID();
      await db.sql`insert into upload_sessions (id, bucket, key, mime_type, size, expires_at) values (${id}, 'b', 'k', 'x/y', 5, now() + interval '1 hour')`;
      await expect(db.sql`update upload_sessions set committed_offset = 6 where id = ${id}`).rejects.toMatchObject(
        checkViolation,
      );
    });
  });

  // The database and request-validation.ts must agree: what one accepts the other accepts. (A NUL byte is left
  // out: Postgres text cannot hold it at all, so it fails with another error.)
  const keys = [...acceptedKeys, ...refusedKeys].filter((key) => !key.includes("\0"));
  const buckets = [...acceptedBuckets, ...refusedBuckets].filter((bucket) => !bucket.includes("\0"));
  test.each([
    ...keys.map((key) => ["key", key, () => checkKey(key)] as const),
    ...buckets.map((bucket) => ["bucket", bucket, () => checkBucket(bucket)] as const),
  ])("database and the validator agree on %s %j", async (field, value, validate) => {
    const validatorAccepts = (() => {
      try {
        validate();
        return true;
      } catch {
        return false;
      }
    })();
    const databaseAccepts = await insertFile({ [field]: value }).then(
      () => true,
      (err: { code?: string }) => {
        expect(err.code).toBe("23514");
        return false;
      },
    );
    expect(databaseAccepts).toBe(validatorAccepts);
  });
});
