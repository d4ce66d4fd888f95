/**
 * One download to a path, through every cut and across runs: content goes to a part file next to
 * the destination, named after the version's SHA-256 (`<destination>.<first 16 hex>.part`), so
 * that a later run resumes from the bytes already there only if they are of the same version. The
 * whole content is hashed (the part's bytes first, then what arrives) and checked against the
 * file's SHA-256 before the part is renamed to the destination.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { createHash, type Hash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import type { File, FilesService } from "../../gen/files/v1/files_pb.js";
import {
  abortedError,
  backoffDelay,
  defaultRetryPolicy,
  isRetryable,
  type RetryEvent,
  type RetryPolicy,
  sleep,
} from "./retry-policy.js";

/** How far a download is, in bytes. */
export interface DownloadProgress {
  /** Bytes on disk, counting those a previous run left. */
  received: number;
  /** The file's size. */
  total: number;
}

/** How to download. */
export interface DownloadOptions {
  /** Told the file's info once known, before any content. */
  onInfo?: (file: File, resumedFrom: number) => void;
  onProgress?: (progress: DownloadProgress) => void;
  /** Told about every failure that will be retried. */
  onRetry?: (event: RetryEvent) => void;
  /** Cancels the download; the part file stays for a later run to resume. */
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
}

/** The part file a download of this version of a file writes to. */
export function partPath(destination: string, sha256: string): string {
  return `${destination}.${sha256.slice(0, 16)}.part`;
}

/**
 * Downloads a file to `destination` and answers its info. Resumes from a part file a previous run
 * left, retries broken connections from the bytes received, and fails with DATA_LOSS (removing the
 * part) when the content does not match the file's SHA-256, or Aborted when the file was replaced
 * meanwhile.
 */
export async function downloadFile(
  service: Client<typeof FilesService>,
  file: { bucket: string; key: string },
  destination: string,
  options: DownloadOptions = {},
): Promise<File> {
  const policy = { ...defaultRetryPolicy, ...options.retry };
  const { signal } = options;
  let failures = 0;
  let received = 0;
  async function failed(err: unknown): Promise<void> {
    const error = ConnectError.from(err);
    if (signal?.aborted) throw abortedError(signal);
    if (!isRetryable(error, signal) || ++failures > policy.maxAttempts) throw error;
    const delayMs = backoffDelay(policy, failures);
    options.onRetry?.({ attempt: failures, delayMs, error, offset: received });
    await sleep(delayMs, signal);
  }

  let info: File | undefined;
  while (!info) {
    try {
      info = (await service.getFile(file, { signal })).file!;
    } catch (err) {
      await failed(err);
    }
  }
  const total = Number(info.bytes);
  const part = partPath(destination, info.sha256);
  // Not O_APPEND: Linux would ignore the positions given to the writes.
  const handle = await open(part, constants.O_RDWR | constants.O_CREAT);
  try {
    received = (await handle.stat()).size;
    if (received > total) {
      await handle.truncate(0);
      received = 0;
    }
    const hash = await hashOf(part, received);
    options.onInfo?.(info, received);
    options.onProgress?.({ received, total });
    while (received < total || total === 0) {
      try {
        for await (const message of service.downloadFile({ ...file, offset: BigInt(received) }, { signal })) {
          if (message.part.case === "info" && message.part.value.sha256 !== info.sha256) {
            throw new ConnectError(
              `${file.bucket}/${file.key} was replaced during the download; run it again for the new version`,
              Code.Aborted,
              undefined,
              undefined,
              "replaced",
            );
          }
          if (message.part.case !== "data") continue;
          const data = message.part.value;
          await handle.write(data, 0, data.byteLength, received);
          hash.update(data);
          received += data.byteLength;
          failures = 0;
          options.onProgress?.({ received, total });
        }
        if (received === total) break;
        throw new ConnectError(`the download ended at ${received} of ${total} bytes`, Code.Unavailable);
      } catch (err) {
        if (err instanceof ConnectError && err.cause === "replaced") throw err;
        await failed(err);
      }
    }
    if (hash.digest("hex") !== info.sha256) {
      await handle.close();
      await rm(part, { force: true });
      throw new ConnectError(
        `the content of ${file.bucket}/${file.key} does not match its sha256 ${info.sha256}; the partial download was removed`,
        Code.DataLoss,
      );
    }
    await handle.sync();
  } finally {
    await handle.close().catch(() => {});
  }
  await rename(part, destination);
  return info;
}

/** A hash of the first `bytes` of `path`, ready to take the rest. */
async function hashOf(path: string, bytes: number): Promise<Hash> {
  const hash = createHash("sha256");
  if (bytes > 0) for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) hash.update(chunk);
  return hash;
}
