/**
 * The postmaster of the embedded cluster as a process: started in a process group of its own and
 * watched until it accepts connections; and a leftover one, from a server that was killed, found
 * and stopped.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// Lines of postmaster.pid (Postgres's pidfile.h): 1 the pid, 8 the status, "ready" once it serves.
const pidLine = 0;
const statusLine = 7;

/** A postmaster this process started. */
export interface Postmaster {
  /** Fast shutdown (aborts sessions, but checkpoints cleanly); resolves once it has exited. */
  stop(): Promise<void>;
}

/** What {@link startPostmaster} runs. */
export interface PostmasterOptions {
  /** The `postgres` binary. */
  binary: string;
  dataDir: string;
  port: number;
  /** Further command-line settings (`-c name=value` pairs). */
  flags: string[];
  /** The user to run as (Postgres refuses to run as root). */
  owner?: { uid: number; gid: number };
  /** Receives its log, one line at a time. */
  log: (line: string) => void;
}

/**
 * Starts the postmaster in a process group (and session) of its own and resolves once it accepts
 * connections. Ctrl-C in a terminal signals the whole foreground group, npm and the server with
 * it: in the server's group, Postgres would stop at once, under the uploads the server is still
 * draining. On its own it is stopped by the server, after the drain.
 */
export async function startPostmaster(options: PostmasterOptions): Promise<Postmaster> {
  const child = spawn(options.binary, ["-D", options.dataDir, "-p", String(options.port), ...options.flags], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    ...options.owner,
  });
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", (err) => {
      spawnError = err;
      resolve();
    });
  });
  // Should this process end without stop() (a forced exit, an uncaught error), the postmaster, in a
  // group of its own, would run on with nobody to stop it. 'exit' handlers must be synchronous: the
  // signal asks for a fast shutdown, which the postmaster completes by itself.
  const stopOnExit = () => child.kill("SIGINT");
  process.once("exit", stopOnExit);
  void exited.then(() => process.off("exit", stopOnExit));
  const stop = async () => {
    child.kill("SIGINT");
    await exited;
  };
  // The last lines say why, should it exit before it serves.
  const lastLines: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => {
    options.log(line);
    lastLines.push(line);
    if (lastLines.length > 20) lastLines.shift();
  });

  let gone = false;
  void exited.then(() => (gone = true));
  // What `pg_ctl start -w` waits for: the postmaster marks its pid file "ready" once it accepts
  // connections, whatever the locale of its messages or where its log goes. Crash recovery after
  // a kill can take long, so there is no deadline; an exit ends the wait.
  const pidFile = path.join(options.dataDir, "postmaster.pid");
  while (!gone) {
    const lines = (await fs.readFile(pidFile, "utf8").catch(() => "")).split("\n");
    if (Number(lines[pidLine]) === child.pid && lines[statusLine]?.trim() === "ready") return { stop };
    await sleep(50);
  }
  throw new Error(
    `Embedded Postgres failed to start in ${options.dataDir} on port ${options.port}` +
      (spawnError
        ? `: ${spawnError.message}`
        : ` (exit code ${child.exitCode ?? child.signalCode}): ${lastLines.join(" | ")}`),
  );
}

/**
 * A postmaster.pid left in dataDir names a postmaster that has exited, or one still running. With
 * `stopRunning` (its server is known to be gone) a running one is an orphan of a killed server and
 * is stopped; without, it is left alone and its pid answered. The file is then removed: Postgres
 * would refuse to start if the pid in it belonged to another process of its user by now.
 */
export async function clearLeftoverPostmaster(
  dataDir: string,
  log: (line: string) => void,
  stopRunning: boolean,
): Promise<number | undefined> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  const firstLine = await fs.readFile(pidFile, "utf8").then(
    (s) => s.split("\n")[pidLine],
    () => undefined,
  );
  if (firstLine === undefined) return undefined;
  const pid = Number.parseInt(firstLine, 10);
  if (!stopRunning && pid > 0 && isAlive(pid)) return pid;
  if (pid > 0 && (await isPostgres(pid, dataDir))) {
    log(`stopping leftover postmaster (pid ${pid}) from an earlier run`);
    process.kill(pid, "SIGINT"); // SIGINT = fast shutdown: aborts sessions, but checkpoints cleanly.
    for (let waited = 0; waited < 10_000 && isAlive(pid); waited += 100) await sleep(100);
    if (isAlive(pid)) {
      process.kill(pid, "SIGKILL");
      for (let waited = 0; waited < 2_000 && isAlive(pid); waited += 100) await sleep(100);
    }
  }
  await fs.rm(pidFile, { force: true });
  return undefined;
}

/** True while the process runs; an unreaped zombie (orphans under a non-reaping PID 1) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = readFileOr(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

function readFileOr(file: string, fallback = ""): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

/** Only kill our own postmaster: the stale pid may have been reused, even by another cluster. */
async function isPostgres(pid: number, dataDir: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const isPg =
    readFileOr(`/proc/${pid}/comm`).trim() === "postgres" ||
    readFileOr(`/proc/${pid}/cmdline`).split("\0")[0]?.endsWith("/postgres") === true;
  // The postmaster chdirs into its data directory.
  const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  return isPg && (cwd === undefined || cwd === (await fs.realpath(dataDir)));
}
