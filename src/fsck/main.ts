/**
 * `npm run fsck [-- --json] [-- --repair] [server flags]`: checks metadata against content with
 * the server's own configuration (flags and environment, e.g. DATABASE_URL, DATABASE_SCHEMA,
 * BLOB_DIR) and prints a report. Exit code 0 when no problem was found, 1 when problems were found
 * (repaired or not: the report says which), 2 when the check could not run.
 *
 * It never starts a database: without DATABASE_URL it connects to the embedded Postgres of a
 * running `npm start`, whose data directory belongs to that server.
 */
import { access } from "node:fs/promises";
import path from "node:path";
import { ownershipNames } from "../startup.js";
import { loadConfigWith, type Config } from "../config.js";
import { OwnershipError, verifyContentStore } from "../store/blob-ownership.js";
import { connectDatabase } from "../store/postgres/database.js";
import { describeContentStore, openContentStore } from "../store/blobs/content-store.js";
import { embeddedPostgresUrl } from "../dev/embedded-postgres/embedded-postgres.js";
import { createSessionLocks } from "../store/postgres/session-locks.js";
import { checkConsistency, problemsOf } from "./consistency.js";
import { formatReport } from "./format.js";
import { repairFindings } from "./repair.js";

const usage =
  "usage: npm run fsck -- [--json] [--repair] [--sha256 | --sizes-only] [server flags such as --database-url, --database-schema, --blob-dir, --blob-store]\n" +
  "  file contents are hashed and compared by default with a blob directory, and with --sha256 on S3\n" +
  "  (where it reads every object back); --sizes-only checks existence and sizes alone";

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log(usage);
    return 0;
  }
  let config: Config;
  let json: boolean;
  let repair: boolean;
  let hashWanted: boolean;
  let sizesOnly: boolean;
  try {
    ({
      config,
      switches: { json, repair, sha256: hashWanted, "sizes-only": sizesOnly },
    } = loadConfigWith(argv, process.env, {
      json: { type: "boolean" },
      repair: { type: "boolean" },
      sha256: { type: "boolean" },
      "sizes-only": { type: "boolean" },
    }));
  } catch (err) {
    console.error(`fsck: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  // A directory the server never used (a typo in BLOB_DIR) must not be created and then reported
  // as missing every blob.
  const used = await Promise.all(
    (config.blobStore === "dir" ? ["blobs", "partial"] : []).map((d) =>
      access(path.join(config.blobDir, d)).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!used.every(Boolean)) {
    console.error(`fsck: ${config.blobDir} is not a blob directory of this service (set BLOB_DIR or --blob-dir)`);
    return 2;
  }
  const url = config.databaseUrl || embeddedPostgresUrl(config.embeddedPostgresPort);
  const sql = connectDatabase({
    url,
    schema: config.databaseSchema,
    max: 4,
    applicationName: "files-service fsck",
    connectTimeoutSeconds: config.databaseConnectTimeoutSeconds,
  });
  const locks = createSessionLocks(url, config.databaseSchema, config.databaseConnectTimeoutSeconds);
  try {
    const deps = { sql, blobs: await openContentStore(config), locks };
    // Checking (let alone repairing) another database's store would call all of its content orphans.
    const owner = await verifyContentStore(sql, deps.blobs, ownershipNames(config));
    if (!owner && repair) {
      console.error(
        `fsck: the ${describeContentStore(config).store} records no owner yet; start the server on it once (it claims the store) before --repair`,
      );
      return 2;
    }
    const hash = hashWanted || (!sizesOnly && config.blobStore === "dir");
    const report = await checkConsistency(deps, { hash });
    if (repair) await repairFindings(deps, report);
    const problems = problemsOf(report);
    console.log(
      json
        ? JSON.stringify({ ...report, problems: problems.length, repaired: repair }, null, 2)
        : formatReport(report, repair),
    );
    return problems.length > 0 ? 1 : 0;
  } catch (err) {
    console.error(`fsck: could not check: ${explain(err, config.databaseSchema, Boolean(config.databaseUrl))}`);
    return 2;
  } finally {
    await locks.close();
    await sql.end({ timeout: 5 });
  }
}

function explain(err: unknown, schema: string, external: boolean): string {
  if (err instanceof OwnershipError) return err.message;
  const code = (err as { code?: string }).code;
  if (code === "42P01")
    return `schema "${schema}" has no files-service tables (has the server run with this DATABASE_SCHEMA?)`;
  if (code === "ECONNREFUSED" && !external)
    return "no DATABASE_URL, and the embedded Postgres is not running (it runs while `npm start` does)";
  return err instanceof Error ? err.message : String(err);
}

process.exitCode = await main(process.argv.slice(2));
