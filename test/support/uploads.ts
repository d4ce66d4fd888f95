/** Client-side helpers for the end-to-end tests: send content in chunks, download, hash. */
import type { Client } from "@connectrpc/connect";
import { createHash, randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import type { File, FilesService, UploadContentRequest } from "../../gen/files/v1/files_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { UploadContentRequestSchema } from "../../gen/files/v1/files_pb.js";

type Files = Client<typeof FilesService>;
type UploadMessage = MessageInitShape<typeof UploadContentRequestSchema> & Partial<UploadContentRequest>;

/** Deterministic-enough random content of `size` bytes. */
export function content(size: number): Buffer {
  return randomBytes(size);
}

/** Lowercase hex SHA-256. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The messages of one upload request: the id on the first, `data` cut into `chunkSize` pieces. */
export async function* chunks(
  uploadId: string,
  data: Uint8Array,
  chunkSize = 256 * 1024,
  offset?: number | bigint,
): AsyncIterable<UploadMessage> {
  if (data.byteLength === 0) {
    yield { uploadId, offset: offset === undefined ? undefined : BigInt(offset) };
    return;
  }
  for (let i = 0; i < data.byteLength; i += chunkSize) {
    yield {
      uploadId: i === 0 ? uploadId : "",
      offset: i === 0 && offset !== undefined ? BigInt(offset) : undefined,
      data: data.subarray(i, i + chunkSize),
    };
  }
}

/** Creates a session and uploads `data` in one request; answers the response. */
export async function uploadFile(
  client: Files,
  bucket: string,
  key: string,
  data: Uint8Array,
  options: { mimeType?: string; sha256?: string; chunkSize?: number } = {},
) {
  const { session } = await client.createUploadSession({
    bucket,
    key,
    mimeType: options.mimeType ?? "application/octet-stream",
    size: BigInt(data.byteLength),
    sha256: options.sha256 ?? "",
  });
  return client.uploadContent(chunks(session!.id, data, options.chunkSize));
}

/** Downloads a file (or a range of it): answers the info and the concatenated data. */
export async function download(client: Files, bucket: string, key: string, offset = 0, limit = 0) {
  let info: File | undefined;
  const parts: Uint8Array[] = [];
  for await (const message of client.downloadFile({ bucket, key, offset: BigInt(offset), limit: BigInt(limit) })) {
    if (message.part.case === "info") info = message.part.value;
    else if (message.part.case === "data") parts.push(message.part.value);
  }
  return { info, data: Buffer.concat(parts) };
}

/** Polls `check` until it answers something truthy, and answers that; fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 5000,
  what = "the condition is met",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Bytes of an upload's partial content in a blob directory, written or not yet committed. */
export async function partialBytes(blobDir: string, uploadId: string): Promise<number | undefined> {
  return (await stat(path.join(blobDir, "partial", uploadId)).catch(() => undefined))?.size;
}
