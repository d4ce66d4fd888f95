/**
 * `files download bucket/key [PATH]`: downloads to PATH (default: the key's last segment in the
 * current directory; a directory: that name in it), with a progress bar. A download cut off — Ctrl-C,
 * the network — leaves its part file beside PATH, and the same command resumes from it.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import type { File, FilesClient } from "../client/index.js";
import { fileJson, formatBytes, printJson, printLines } from "./output.js";
import type { Progress, ProgressBar } from "./progress.js";
import { parseFileTarget } from "./targets.js";

/** Downloads one file and prints where it went. */
export async function downloadCommand(
  source: string,
  destination: string | undefined,
  options: { json: boolean },
  context: { client: FilesClient; progress: Progress; signal: AbortSignal },
): Promise<void> {
  const { bucket, path: key } = parseFileTarget(source);
  const name = path.posix.basename(key);
  let target = destination ?? name;
  if (destination && (await isDirectory(destination))) target = path.join(destination, name);
  let bar: ProgressBar | undefined;
  const label = path.basename(target);
  let file: File;
  try {
    file = await context.client.downloadFile({ bucket, key }, target, {
      signal: context.signal,
      onInfo: (info, resumedFrom) => {
        if (resumedFrom > 0) context.progress.note(`${target}: resuming at ${formatBytes(resumedFrom)}`);
        bar = context.progress.add(label, Number(info.bytes), resumedFrom);
      },
      onProgress: ({ received }) => bar?.update(received),
      onRetry: ({ error, delayMs }) =>
        context.progress.note(`${target}: ${error.rawMessage}; retrying in ${(delayMs / 1000).toFixed(1)} s`),
    });
  } finally {
    // Also on failure, so that the error line starts a line of its own.
    context.progress.stop();
  }
  if (options.json) printJson({ ...fileJson(file), path: path.resolve(target) });
  else printLines([`${file.bytes}\t${file.sha256}\t${target}`]);
}

async function isDirectory(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isDirectory() ?? false;
}
