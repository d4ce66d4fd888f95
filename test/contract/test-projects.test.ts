/**
 * `npm run test:unit` must run on a machine without Postgres or Docker: the unit tests sit in a Jest
 * project without the global setup that finds a database (Jest runs a project's global setup only
 * when one of its tests runs). And `npm test` must still run every test file: each is in exactly
 * one project.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface Project {
  displayName: string;
  testMatch: string[];
  globalSetup?: string;
}

const root = fileURLToPath(new URL("../../", import.meta.url));
let projects: Project[];
beforeAll(async () => {
  // Imported by URL: the config is plain JavaScript, without types.
  const configUrl = new URL("../../jest.config.js", import.meta.url).href;
  projects = ((await import(configUrl)) as { default: { projects: Project[] } }).default.projects;
});

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".test.ts"))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

/** The projects whose testMatch (all of the form <rootDir>/dir/**\/*.test.ts) takes the file. */
function projectsOf(file: string): string[] {
  return projects
    .filter((p) =>
      p.testMatch.some((glob) => file.startsWith(glob.replace("<rootDir>/", "").replace("**/*.test.ts", ""))),
    )
    .map((p) => p.displayName);
}

test("every test file is in exactly one project", async () => {
  for (const file of await testFiles("test")) expect([file, projectsOf(file).length]).toEqual([file, 1]);
});

test("unit tests are in a project without the database's global setup; integration and e2e tests in one with it", async () => {
  const byName = new Map(projects.map((p) => [p.displayName, p]));
  for (const file of await testFiles("test/unit")) expect(byName.get(projectsOf(file)[0])?.globalSetup).toBeUndefined();
  for (const file of [...(await testFiles("test/integration")), ...(await testFiles("test/e2e"))]) {
    expect(byName.get(projectsOf(file)[0])?.globalSetup).toMatch(/global-setup\.ts$/);
  }
});
