/**
 * `files upload PATH… bucket[/prefix]`: uploads each file to `prefix/<its name>`, several at once,
 * each with a progress bar. A session's id is recorded as soon as it exists (upload-state.ts), so
 * that after Ctrl-C or a network cut the same command resumes each file from the offset the server
 * committed rather than from the start.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { stat } from "node:fs/promises";
import path from "node:path";
import type { File, FilesClient } from "../client/index.js";
import { errorLine, UsageError } from "./exit-codes.js";
import { guessMimeType } from "./mime-types.js";
import { fileJson, formatBytes, printJson, printLines } from "./output.js";
import type { Progress } from "./progress.js";
import { keyUnder, parseTarget } from "./targets.js";
import type { UploadIdentity, UploadState } from "./upload-state.js";

/** The upload command's options. */
export interface UploadCommandOptions {
  url: string;
  parallel: number;
  mimeType?: string;
  sha256: boolean;
  json: boolean;
}

/** What the upload command runs with. */
export interface UploadContext {
  client: FilesClient;
  state: UploadState;
  progress: Progress;
  signal: AbortSignal;
}

/**
 * Uploads every path; answers once all have ended. Throws the first failure (by the order of the
 * paths) after the others have finished or stopped, having printed what completed.
 */
export async function uploadCommand(
  paths: string[],
  destination: string,
  options: UploadCommandOptions,
  context: UploadContext,
): Promise<void> {
  const { bucket, path: prefix } = parseTarget(destination);
  const uploads = await Promise.all(
    paths.map(async (file) => {
      const absolute = path.resolve(file);
      const info = await stat(absolute);
      if (!info.isFile()) throw new UsageError(`${file} is not a regular file`);
      const key = keyUnder(prefix, path.basename(absolute));
      const identity: UploadIdentity = {
        url: options.url,
        bucket,
        key,
        file: absolute,
        size: info.size,
        mtimeMs: info.mtimeMs,
        ctimeMs: info.ctimeMs,
        dev: info.dev,
        ino: info.ino,
      };
      return { file, identity };
    }),
  );
  const keys = new Set(uploads.map((u) => u.identity.key));
  if (keys.size < uploads.length) throw new UsageError("two of the files have the same name, so the same key");

  const results: (File | undefined)[] = [];
  const failures: { index: number; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < uploads.length && !context.signal.aborted) {
      const index = next++;
      try {
        results[index] = await uploadOne(uploads[index].file, uploads[index].identity, options, context);
      } catch (error) {
        failures.push({ index, error });
        // With several files, each failure is told as it happens; the first is also the final error.
        if (!context.signal.aborted && uploads.length > 1) {
          context.progress.note(`${uploads[index].file}: ${errorLine(error)}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel, uploads.length)) }, worker));
  context.progress.stop();

  const done = results.filter((file): file is File => file !== undefined);
  if (options.json) printJson(done.map(fileJson));
  else printLines(done.map((f) => `${f.bytes}\t${f.sha256}\t${f.bucket}/${f.key}`));
  if (failures.length > 0) throw failures.sort((a, b) => a.index - b.index)[0].error;
}

async function uploadOne(
  file: string,
  identity: UploadIdentity,
  options: UploadCommandOptions,
  { client, state, progress, signal }: UploadContext,
): Promise<File> {
  const { bucket, key, size } = identity;
  const upload = (uploadId: string | undefined) => {
    let bar: { update(done: number): void } | undefined;
    return client.uploadFile(identity.file, {
      bucket,
      key,
      size,
      uploadId,
      mimeType: options.mimeType ?? guessMimeType(file),
      sha256: options.sha256 || undefined,
      signal,
      onSession: async (session) => {
        const offset = Number(session.offset);
        if (uploadId) progress.note(`${file}: resuming at ${formatBytes(offset)} (session ${session.id})`);
        else await state.remember(identity, session.id);
        bar = progress.add(path.basename(file), size, offset);
      },
      onProgress: ({ sent }) => bar?.update(sent),
      onRetry: ({ error, delayMs }) =>
        progress.note(`${file}: ${error.rawMessage}; retrying in ${(delayMs / 1000).toFixed(1)} s`),
    });
  };

  const recorded = await state.find(identity);
  let uploaded: File;
  try {
    uploaded = await upload(recorded);
  } catch (err) {
    // The recorded session is gone (expired, cancelled, or completed into a file replaced since),
    // or no longer fits this file: start anew.
    const gone = err instanceof ConnectError && (err.code === Code.NotFound || err.code === Code.FailedPrecondition);
    if (!recorded || !gone || signal.aborted) throw err;
    progress.note(`${file}: the recorded session ${recorded} is gone (${err.rawMessage}); starting again`);
    await state.forget(identity);
    uploaded = await upload(undefined);
  }
  await state.forget(identity);
  return uploaded;
}
