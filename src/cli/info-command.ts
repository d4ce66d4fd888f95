/** `files info bucket/key`: one file's metadata. */
import type { FilesClient } from "../client/index.js";
import { fileJson, formatBytes, printJson, printLines } from "./output.js";
import { parseFileTarget } from "./targets.js";

/** Prints a file's metadata: `name: value` lines, or a JSON object. */
export async function infoCommand(target: string, options: { json: boolean }, client: FilesClient): Promise<void> {
  const { file } = await client.service.getFile(toRequest(target));
  const json = fileJson(file!);
  if (options.json) return printJson(json);
  printLines([
    `bucket: ${json.bucket}`,
    `key: ${json.key}`,
    `bytes: ${json.bytes} (${formatBytes(json.bytes)})`,
    `mime-type: ${json.mimeType}`,
    `sha256: ${json.sha256}`,
    `created: ${json.createdAt}`,
    `url: ${json.url}`,
  ]);
}

function toRequest(target: string) {
  const { bucket, path: key } = parseFileTarget(target);
  return { bucket, key };
}
