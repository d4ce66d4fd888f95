/**
 * `npm start` run the way a user runs it in a terminal: npm in a process group of its own (a
 * terminal's foreground job), so that `interrupt()` signals npm, its shell and the server at once,
 * as Ctrl-C does. The server learns its port from the "listening" log line (PORT=0).
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { FilesService } from "../../gen/files/v1/files_pb.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** One `npm start`, from its first line of output to its exit. */
export interface NpmStart {
  /** The npm process; its pid is also the process group's id. */
  child: ChildProcess;
  /** Every line written to stderr: the server's JSON log lines and npm's own complaints. */
  log: string[];
  /** Resolves with npm's exit code (or the signal that ended it) once npm and the server have exited. */
  exited: Promise<number | string>;
  /** Resolves with the first log line matching `pattern`; fails after `timeoutMs` or when npm exits first. */
  logLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Ctrl-C in the terminal: SIGINT to every process of the group. */
  interrupt(): void;
}

/** A started server: an {@link NpmStart} that logged "listening". */
export interface NpmServer extends NpmStart {
  port: number;
  client: Client<typeof FilesService>;
}

/** Runs `npm start` in the repository with these settings on top of the environment (PORT=0, no sweeps). */
export function npmStart(env: Record<string, string>): NpmStart {
  const child = spawn("npm", ["start"], {
    cwd: root,
    env: { ...process.env, PORT: "0", SWEEP_INTERVAL_SECONDS: "0", npm_config_update_notifier: "false", ...env },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  const log: string[] = [];
  const waiters = new Set<{ pattern: RegExp; found: (line: string) => void }>();
  createInterface({ input: child.stderr! }).on("line", (line) => {
    log.push(line);
    for (const waiter of waiters) if (waiter.pattern.test(line)) waiter.found(line);
  });
  // "close", not "exit": by then every line has been read, and the server, which writes to the same
  // pipe, has exited too (npm may exit first: with dash as sh, a SIGTERM to the group ends npm at once).
  const exited = new Promise<number | string>((resolve) =>
    child.once("close", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const logLine = (pattern: RegExp, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const seen = log.find((line) => pattern.test(line));
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => fail(`no log line matching ${pattern} within ${timeoutMs} ms`), timeoutMs);
      const waiter = {
        pattern,
        found: (line: string) => {
          waiters.delete(waiter);
          clearTimeout(timer);
          resolve(line);
        },
      };
      const fail = (why: string) => {
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${why}; the log:\n${log.join("\n")}`));
      };
      waiters.add(waiter);
      void exited.then(
        (code) => waiters.has(waiter) && fail(`npm start exited (${code}) before a log line matched ${pattern}`),
      );
    });
  return { child, log, exited, logLine, interrupt: () => process.kill(-child.pid!, "SIGINT") };
}

/** Waits until the server listens (embedded Postgres start-up included) and connects a gRPC client. */
export async function listening(start: NpmStart, timeoutMs = 60_000): Promise<NpmServer> {
  const line = await start.logLine(/"message":"listening"/, timeoutMs);
  const port = Number(/"url":"http:\/\/[^"]*:(\d+)"/.exec(line)![1]);
  const client = createClient(FilesService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  return { ...start, port, client };
}

/** Answers `promise`'s value, or fails saying `what` did not happen within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pid in a data directory's postmaster.pid, or undefined without one. */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : Number.parseInt(text, 10);
}

/** True while `pid` runs; an exited but unreaped process (a zombie) has stopped. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readProc(pid, "stat");
  return stat === undefined || stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

/** The parent of `pid` (Linux), or undefined once it is gone. */
export function parentPid(pid: number): number | undefined {
  const stat = readProc(pid, "stat");
  return stat === undefined ? undefined : Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Leaves nothing running after a test, passed or failed: each npm start still running gets
 * SIGTERM (then SIGKILL), to its whole group, and a postmaster still on `dataDir` a fast shutdown.
 */
export async function stopEverything(starts: NpmStart[], dataDir: string): Promise<void> {
  await Promise.all(
    starts.map(async (start) => {
      if (start.child.exitCode !== null || start.child.signalCode !== null) return;
      // To the group: with dash as sh, npm's forwarded SIGTERM only ends `sh -c`, not the server.
      process.kill(-start.child.pid!, "SIGTERM");
      await within(start.exited, 15_000, "npm start's exit after SIGTERM").catch(() => {
        try {
          process.kill(-start.child.pid!, "SIGKILL");
        } catch {
          // the group is gone already
        }
      });
    }),
  );
  const pid = await postmasterPid(dataDir);
  if (pid === undefined || !isRunning(pid) || !/postgres/.test(readProc(pid, "cmdline") ?? "")) return;
  process.kill(pid, "SIGINT");
  for (const deadline = Date.now() + 15_000; isRunning(pid) && Date.now() < deadline; )
    await new Promise((r) => setTimeout(r, 50));
}
