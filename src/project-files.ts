/**
 * Files the service reads at run time besides its code — the SQL migrations and the generated
 * OpenAPI document — found from the package root, so that one path serves the TypeScript sources
 * (tsx, the tests) and the compiled build in dist/ alike.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The directory holding package.json, above this file wherever the build put it. */
const root = (() => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (dir === path.dirname(dir))
      throw new Error("files-service: no package.json above the code; run it from its package");
  }
})();

/** A path inside the package, e.g. `projectFile("migrations")`. */
export function projectFile(...segments: string[]): string {
  return path.join(root, ...segments);
}

/** The OpenAPI document that `npm run generate` writes, or undefined when it has not been generated. */
export async function loadOpenApiDocument(): Promise<object | undefined> {
  try {
    return JSON.parse(await readFile(projectFile("gen", "openapi.json"), "utf8")) as object;
  } catch {
    return undefined;
  }
}
