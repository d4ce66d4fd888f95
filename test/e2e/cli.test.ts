/**
 * The `files` command as a process against the real server process: results and --json on stdout,
 * one error line and a documented exit code, resumption after Ctrl-C by running the same command
 * again, and under a pseudo-terminal (util-linux `script`) progress bars that end at 100%.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type CuttingProxy, startCuttingProxy } from "../support/cutting-proxy.js";
import { type KeyedServer, type ServerProcess, startKeyedServer } from "../support/server-process.js";
import { eventually } from "../support/uploads.js";

const MiB = 1024 * 1024;
const root = fileURLToPath(new URL("../../", import.meta.url));
// tsx by its path: the CLI runs in a directory of its own, where `--import tsx` would not resolve.
const tsx = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href;
const cli = [process.execPath, "--import", tsx, path.join(root, "src/cli/main.ts")];
const apiKey = "cli-test-key-0123456789abcdef";

let keyed: KeyedServer;
let dir: string;
let server: ServerProcess;
let env: Record<string, string>;

beforeAll(async () => {
  keyed = await startKeyedServer("cli", apiKey, { CHECKPOINT_BYTES: "1MiB" });
  ({ dir, server } = keyed);
  env = {
    FILES_URL: `http://127.0.0.1:${server.port}`,
    FILES_API_KEY: apiKey,
    XDG_STATE_HOME: path.join(dir, "state"),
  };
});
afterAll(() => keyed?.stop());

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` resolves once it has exited and its output is read. */
function start(args: string[], extraEnv: Record<string, string> = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(cli[0], [...cli.slice(1), ...args], {
    cwd: dir,
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code, signal) => resolve({ code: code ?? signal ?? -1, stdout, stderr })),
  );
  return { child, done };
}

const files = (args: string[], extraEnv?: Record<string, string>) => start(args, extraEnv).done;

async function writeContent(name: string, bytes: number): Promise<{ file: string; sha256: string }> {
  const data = randomBytes(bytes);
  const file = path.join(dir, name);
  await writeFile(file, data);
  return { file, sha256: createHash("sha256").update(data).digest("hex") };
}

const sha256Of = async (file: string) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
const stateEntries = async () =>
  JSON.parse(await readFile(path.join(dir, "state/files-cli/uploads.json"), "utf8").catch(() => "{}"));

test("upload several files, then ls, info, download, rm and buckets, in text and --json", async () => {
  const a = await writeContent("a.bin", 3 * MiB + 1);
  const b = await writeContent("notes.txt", 10);
  const upload = await files(["upload", a.file, b.file, "docs/in"]);
  expect(upload).toMatchObject({ code: 0, stderr: "" }); // no terminal: no bars, nothing on stderr
  expect(upload.stdout.trim().split("\n").sort()).toEqual(
    [`${3 * MiB + 1}\t${a.sha256}\tdocs/in/a.bin`, `10\t${b.sha256}\tdocs/in/notes.txt`].sort(),
  );
  expect(await stateEntries()).toEqual({});

  const ls = await files(["--json", "ls", "docs/in/"]);
  expect(ls.code).toBe(0);
  expect(JSON.parse(ls.stdout).map((f: { key: string; bytes: number }) => [f.key, f.bytes])).toEqual([
    ["in/a.bin", 3 * MiB + 1],
    ["in/notes.txt", 10],
  ]);
  const lsText = await files(["ls", "docs"]);
  expect(lsText.stdout).toMatch(/^10\t\d{4}-\d\d-\d\dT[\d:.]+Z\tin\/notes\.txt$/m);

  const info = await files(["info", "docs/in/notes.txt", "--json"]);
  expect(JSON.parse(info.stdout)).toMatchObject({ bucket: "docs", key: "in/notes.txt", mimeType: "text/plain" });

  const download = await files(["download", "docs/in/a.bin", "copy.bin"]);
  expect(download).toMatchObject({ code: 0, stderr: "" });
  expect(await sha256Of(path.join(dir, "copy.bin"))).toBe(a.sha256);

  expect(await files(["rm", "docs/in/notes.txt"])).toMatchObject({ code: 0, stdout: "deleted docs/in/notes.txt\n" });
  expect(JSON.parse((await files(["buckets", "--json"])).stdout)).toEqual(["docs"]);
  expect((await files(["ls"])).stdout).toBe("docs\n");
});

test.each([
  ["no arguments", 1, ["upload"], {}],
  ["a local file that is missing", 1, ["upload", "missing.bin", "docs"], {}],
  ["a target without a key", 1, ["info", "docs"], {}],
  ["an unknown command", 1, ["frobnicate"], {}],
  ["a file that does not exist", 2, ["info", "docs/nope.bin"], {}],
  ["a wrong API key", 3, ["buckets"], { FILES_API_KEY: "wrong-key-0123456789abcdef" }],
  ["no server", 4, ["buckets"], { FILES_URL: "http://127.0.0.1:1" }],
] as const)("%s: exit code %i, and one error line", async (_what, code, args, extraEnv) => {
  const run = await files([...args], extraEnv);
  expect(run.code).toBe(code);
  expect(run.stdout).toBe("");
  expect(run.stderr).toMatch(/^files: error: [^\n]+\n$/);
});

/** A proxy to the server that can hold connections, so that a transfer is still running when hit. */
async function holdingProxy(): Promise<CuttingProxy> {
  return startCuttingProxy(server.port, { seed: 1, maxCuts: 0, minBytes: 0, maxBytes: 1 });
}

test("Ctrl-C stops an upload with exit code 130, and the same command resumes it from the committed offset", async () => {
  const big = await writeContent("big.bin", 24 * MiB);
  const proxy = await holdingProxy();
  try {
    const url = { FILES_URL: `http://127.0.0.1:${proxy.port}` };
    await proxy.holdAfter(10 * MiB);
    const first = start(["upload", big.file, "docs"], url);
    // The session is recorded and the connection went silent mid-upload: now interrupt.
    await eventually(
      async () => Object.keys(await stateEntries()).length === 1 && (await proxy.counts()).held > 0,
      20_000,
    );
    const [{ uploadId }] = Object.values(await stateEntries()) as { uploadId: string }[];
    first.child.kill("SIGINT");
    const interrupted = await first.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toBe("files: interrupted; run the same command again to resume\n");
    await eventually(
      async () => (await server.client.getUploadSession({ uploadId }, authorized)).session!.offset > 0n,
      20_000,
      "the server has committed what arrived",
    );

    await proxy.holdAfter(Infinity);
    const again = await files(["upload", big.file, "docs"], url);
    expect(again.code).toBe(0);
    const resumedAt = /big\.bin: resuming at ([\d.]+) MiB \(session ([\w-]+)\)/.exec(again.stderr);
    expect(resumedAt?.[2]).toBe(uploadId);
    expect(Number(resumedAt?.[1])).toBeGreaterThan(0);
    expect(again.stdout).toBe(`${24 * MiB}\t${big.sha256}\tdocs/big.bin\n`);
    expect(await stateEntries()).toEqual({});
  } finally {
    await proxy.close();
  }
});

test("a file rewritten at the same size with its mtime kept is not resumed into the old session", async () => {
  const proxy = await holdingProxy();
  try {
    const url = { FILES_URL: `http://127.0.0.1:${proxy.port}` };
    const old = await writeContent("kept-mtime.bin", 16 * MiB);
    // A whole second, which utimes can set again exactly.
    const mtime = 1_700_000_000;
    await utimes(old.file, mtime, mtime);
    await proxy.holdAfter(6 * MiB);
    const first = start(["upload", old.file, "docs"], url);
    await eventually(
      async () => Object.keys(await stateEntries()).length === 1 && (await proxy.counts()).held > 0,
      20_000,
    );
    first.child.kill("SIGINT");
    expect((await first.done).code).toBe(130);
    // As `cp -p` or `tar x` would leave it: other bytes, the same size, the same mtime.
    const fresh = await writeContent("kept-mtime.bin", 16 * MiB);
    await utimes(fresh.file, mtime, mtime);
    await proxy.holdAfter(Infinity);
    const again = await files(["upload", fresh.file, "docs"], url);
    expect([again.code, again.stderr]).toEqual([0, expect.not.stringContaining("resuming")]);
    expect(again.stdout).toBe(`${16 * MiB}\t${fresh.sha256}\tdocs/kept-mtime.bin\n`);
    // The old file's entry stays (until it is pruned), and no later test should see it.
    expect(Object.keys(await stateEntries())).toHaveLength(1);
    await rm(path.join(dir, "state/files-cli/uploads.json"));
  } finally {
    await proxy.close();
  }
});

test("Ctrl-C stops a download with exit code 130, and the same command resumes it from the part file", async () => {
  const big = await writeContent("down.bin", 24 * MiB);
  expect((await files(["upload", big.file, "docs"])).code).toBe(0);
  const proxy = await holdingProxy();
  try {
    const url = { FILES_URL: `http://127.0.0.1:${proxy.port}` };
    await proxy.holdAfter(10 * MiB);
    const first = start(["download", "docs/down.bin", "fetched.bin"], url);
    await eventually(async () => (await proxy.counts()).held > 0, 20_000);
    first.child.kill("SIGINT");
    expect((await first.done).code).toBe(130);

    await proxy.holdAfter(Infinity);
    const again = await files(["download", "docs/down.bin", "fetched.bin"], url);
    expect(again.code).toBe(0);
    expect(Number(/fetched\.bin: resuming at ([\d.]+) MiB/.exec(again.stderr)?.[1])).toBeGreaterThan(0);
    expect(await sha256Of(path.join(dir, "fetched.bin"))).toBe(big.sha256);
  } finally {
    await proxy.close();
  }
});

test("under a terminal, each file's progress bar renders and ends at 100%", async () => {
  const one = await writeContent("tty-one.bin", 16 * MiB);
  const two = await writeContent("tty-two.bin", 5 * MiB);
  const command = [...cli, "upload", one.file, two.file, "tty"].map(shellQuote).join(" ");
  // util-linux `script` runs the command on a pseudo-terminal and copies what it draws to stdout.
  const screen = execFileSync("script", ["-qec", command, "/dev/null"], {
    cwd: dir,
    env: { ...process.env, ...env, COLUMNS: "100" },
    encoding: "utf8",
  });
  // Without the terminal's control sequences (cursor moves, erasures), line by line.
  const esc = String.fromCharCode(0x1b);
  const lines = screen.replace(new RegExp(`${esc}\\[[0-9;?]*[A-Za-z]`, "g"), "").split(/[\r\n]+/);
  for (const name of ["tty-one.bin", "tty-two.bin"]) {
    const bars = lines.filter((line) => line.includes(name) && /\d+%/.test(line));
    expect(bars.length).toBeGreaterThan(0);
    expect(bars[bars.length - 1]).toMatch(/█ 100% [\d.]+ MiB\/[\d.]+ MiB .*ETA/);
  }
  expect(lines).toContain(`${16 * MiB}\t${one.sha256}\ttty/tty-one.bin`);
});

const authorized = { headers: { authorization: `Bearer ${apiKey}` } };

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}
