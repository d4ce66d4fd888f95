/** `files buckets`: the buckets the API key may read, one a line. */
import type { FilesClient } from "../client/index.js";
import { printJson, printLines } from "./output.js";

/** Lists the buckets: one name a line, or a JSON array of names. */
export async function bucketsCommand(options: { json: boolean }, client: FilesClient): Promise<void> {
  const names = (await client.service.listBuckets({})).data.map((b) => b.name);
  if (options.json) printJson(names);
  else printLines(names);
}
