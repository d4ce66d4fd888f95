/**
 * `files ls [bucket[/prefix]]`: the files of a bucket whose keys start with the prefix, every page
 * of them; without a bucket, the buckets (as `files buckets`).
 */
import type { FilesClient } from "../client/index.js";
import { bucketsCommand } from "./buckets-command.js";
import { fileJson, printJson, printLines } from "./output.js";
import { parseTarget } from "./targets.js";

/** Lists files: `<bytes>\t<created>\t<key>` a line, or a JSON array. */
export async function lsCommand(target: string | undefined, options: { json: boolean }, client: FilesClient) {
  if (target === undefined) return bucketsCommand(options, client);
  const { bucket, path: prefix } = parseTarget(target);
  const files = [];
  let pageToken = "";
  do {
    const page = await client.service.listFiles({ bucket, prefix, pageSize: 1000, pageToken });
    files.push(...page.data);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  if (options.json) printJson(files.map(fileJson));
  else printLines(files.map((f) => `${f.bytes}\t${fileJson(f).createdAt}\t${f.key}`));
}
