/** `files rm bucket/key`: deletes a file. */
import type { FilesClient } from "../client/index.js";
import { fileJson, printJson, printLines } from "./output.js";
import { parseFileTarget } from "./targets.js";

/** Deletes the file and prints what was deleted. */
export async function rmCommand(target: string, options: { json: boolean }, client: FilesClient): Promise<void> {
  const { bucket, path: key } = parseFileTarget(target);
  const { file } = await client.service.deleteFile({ bucket, key });
  if (options.json) printJson(fileJson(file!));
  else printLines([`deleted ${file!.bucket}/${file!.key}`]);
}
