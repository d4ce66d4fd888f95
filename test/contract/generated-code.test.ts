/**
 * gen/ is committed; this fails when it is stale against proto/ (someone changed a .proto and did
 * not run `npm run generate`), and when buf lint finds the contract out of style.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));
const env = { ...process.env, PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}` };

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = path.join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

test("gen/ is what buf generate makes of proto/ now", async () => {
  const out = await mkdtemp(path.join(tmpdir(), "files-gen-"));
  try {
    await run("buf", ["generate", "--output", out], { cwd: root, env });
    const fresh = path.join(out, "gen");
    const committed = path.join(root, "gen");
    expect(await listFiles(fresh)).toEqual(await listFiles(committed));
    for (const file of await listFiles(fresh)) {
      const [a, b] = await Promise.all([
        readFile(path.join(fresh, file), "utf8"),
        readFile(path.join(committed, file), "utf8"),
      ]);
      if (a !== b) throw new Error(`gen/${file} is stale: run npm run generate and commit the result`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("buf lint passes", async () => {
  await expect(run("buf", ["lint"], { cwd: root, env })).resolves.toBeDefined();
});
