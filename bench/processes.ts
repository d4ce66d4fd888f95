/**
 * The servers a bench row measures, each a process of its own: the service (its compiled build,
 * as `npm start` runs it) and the helpers in bench/ (baselines, tus). Also the probe that reads a
 * server's RSS and CPU time from /proc.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import ts from "typescript";

const root = path.resolve(import.meta.dirname, "..");
const MiB = 1024 * 1024;

/** A running server process. */
export interface ServerProcess {
  pid: number;
  baseUrl: string;
  port: number;
  /** The last lines it logged, for the message when a row fails. */
  logTail(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 30 s). */
  stop(): Promise<void>;
}

/**
 * The port of the service's "listening" log line, or undefined for any other line. The line is a
 * JSON object (pino writes `message` last, so `url` may come before it): parsed, not pattern-matched.
 */
export function listeningPort(line: string): number | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof entry !== "object" || entry === null) return undefined;
  const { message, url } = entry as { message?: unknown; url?: unknown };
  return message === "listening" && typeof url === "string" ? Number(new URL(url).port) : undefined;
}

// How long a server may take to start (the embedded Postgres's first start included).
const startTimeoutMs = 120_000;

/** Starts `command` in the repository and waits for its "listening" line on stdout or stderr. */
export async function startServer(command: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child = spawn(command[0], command.slice(1), { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(String(code ?? signal))),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      const port = listeningPort(line);
      if (port === undefined) return;
      clearTimeout(late);
      resolve(port);
    };
    // Read to the end, always: a server blocked on a full stderr pipe would be measured waiting.
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    void exited.then((code) =>
      reject(new Error(`${command.join(" ")} exited (${code}) before listening:\n${tail.join("\n")}`)),
    );
    // A server that never says it listens (its log level set above info, say) must not hang the run.
    const late = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${command.join(" ")} did not log "listening" within ${startTimeoutMs / 1000} s (is LOG_LEVEL above info?):\n${tail.join("\n")}`,
        ),
      );
    }, startTimeoutMs).unref();
  });
  return {
    pid: child.pid!,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    logTail: () => tail.join("\n"),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The helper servers in bench/ and the modules they import from there. */
const helperSources = ["baseline-server.ts", "tus-server.ts", "constant-files-server.ts", "constant-file.ts"];

/**
 * Compiles the helper servers to dist/bench/, beside the compiled gen/ they import, so that they
 * run as plain JS like the service: under tsx each would carry about 20 MiB of loader into the
 * baselines' RSS. Transpiled only (no type check: `tsc --noEmit` covers bench/).
 */
export async function compileHelpers(): Promise<void> {
  await mkdir(path.join(root, "dist/bench"), { recursive: true });
  for (const source of helperSources) {
    const { outputText } = ts.transpileModule(await readFile(path.join(root, "bench", source), "utf8"), {
      fileName: source,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    await writeFile(path.join(root, "dist/bench", source.replace(/\.ts$/, ".js")), outputText);
  }
}

/** Starts a helper server of bench/ (`baseline-server`), compiled by {@link compileHelpers}. */
export function startHelper(name: string, ...args: string[]): Promise<ServerProcess> {
  return startServer([process.execPath, path.join(root, "dist/bench", `${name}.js`), ...args]);
}

/**
 * Starts the service as `npm start` does (`node --enable-source-maps dist/src/main.js`), on a port
 * of its own, with `env` added (database, schema, blob directory). BENCH_SERVER_NODE_FLAGS
 * (e.g. `--cpu-prof`) go to node.
 */
export function startService(env: Record<string, string>): Promise<ServerProcess> {
  const entry = path.join(root, "dist/src/main.js");
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` (npm run bench does it first)`);
  const nodeFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  return startServer([process.execPath, "--enable-source-maps", ...nodeFlags, entry], {
    ...process.env,
    PORT: "0",
    SWEEP_INTERVAL_SECONDS: "0",
    ...env,
  });
}

/** What a server used while a piece of work ran. */
export interface ServerUse {
  /** Peak RSS (VmHWM) during the work, MiB. */
  peakRssMiB: number;
  /** That peak minus the RSS just before the work, MiB. */
  rssGrowthMiB: number;
  /** CPU time (user + system, all threads) the server spent during the work, seconds. */
  cpuSeconds: number;
}

/**
 * Runs `work` and answers its result with what the server `pid` used meanwhile, and the CPU time
 * of this (the client's) process: CPU time says what a row costs even when other jobs share the
 * cores and its wall-clock rate suffers, and a client near a whole core is the row's bottleneck.
 */
export async function observeServer<T>(
  pid: number,
  work: () => Promise<T>,
): Promise<{ result: T; server: ServerUse; clientCpuSeconds: number }> {
  // Resets the peak (VmHWM) to the current RSS, so that the peak read afterwards is this work's own.
  await writeFile(`/proc/${pid}/clear_refs`, "5").catch(() => undefined);
  const startRssMiB = await rssMiB(pid, "VmRSS");
  const startCpu = await cpuSeconds(pid);
  const startClientCpu = process.cpuUsage();
  const result = await work();
  const client = process.cpuUsage(startClientCpu);
  const cpu = (await cpuSeconds(pid)) - startCpu;
  const peakRssMiB = await rssMiB(pid, "VmHWM");
  return {
    result,
    server: { peakRssMiB, rssGrowthMiB: peakRssMiB - startRssMiB, cpuSeconds: cpu },
    clientCpuSeconds: (client.user + client.system) / 1e6,
  };
}

/** Clock ticks per second of /proc/<pid>/stat's times: 100 on every Linux Node runs on (USER_HZ). */
const ticksPerSecond = 100;

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may itself hold spaces: utime and
  // stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

async function rssMiB(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kB = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  if (!kB) throw new Error(`/proc/${pid}/status has no ${field}`);
  return (Number(kB[1]) * 1024) / MiB;
}
