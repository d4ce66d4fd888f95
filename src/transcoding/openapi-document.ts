/**
 * The OpenAPI document served at /openapi.json: generated into gen/openapi.json by `npm run
 * generate` (see tools/protoc-gen-openapi.ts), from the same annotations the transcoder routes by.
 */
import { readFile } from "node:fs/promises";

const documentUrl = new URL("../../gen/openapi.json", import.meta.url);

/** The generated document, or undefined when it has not been generated. */
export async function loadOpenApiDocument(): Promise<object | undefined> {
  try {
    return JSON.parse(await readFile(documentUrl, "utf8")) as object;
  } catch {
    return undefined;
  }
}
