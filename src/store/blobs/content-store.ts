/** The blob store the settings choose: a local directory (the default) or an S3 bucket. */
import path from "node:path";
import type { Config } from "../../config.js";
import type { BlobStore } from "./blob-store.js";
import { createDirectoryBlobStore } from "./directory-blob-store.js";
import { createS3BlobStore } from "./s3/s3-blob-store.js";
import { createS3Client, parseS3Location } from "./s3/s3-client.js";

type StoreSettings = Pick<Config, "blobStore" | "blobDir" | "s3PartSize" | "s3ForcePathStyle">;

/** Opens the store of `config` (BLOB_STORE, BLOB_DIR, S3_*). */
export async function openContentStore(config: StoreSettings): Promise<BlobStore> {
  if (config.blobStore === "dir") return createDirectoryBlobStore(config.blobDir);
  const location = parseS3Location(config.blobStore);
  if (typeof location === "string") throw new Error(`BLOB_STORE ${location}`);
  // The SDK reads AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_S3) itself; path style goes with a custom endpoint.
  const customEndpoint = Boolean(process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3);
  const forcePathStyle = config.s3ForcePathStyle === "auto" ? customEndpoint : config.s3ForcePathStyle === "true";
  const client = createS3Client({ forcePathStyle });
  return createS3BlobStore({ ...location, client, partSize: config.s3PartSize });
}

/** The store, for people (in messages), and the settings that choose it. */
export function describeContentStore(config: StoreSettings): { store: string; storeSettings: string } {
  if (config.blobStore === "dir")
    return { store: `blob directory ${path.resolve(config.blobDir)}`, storeSettings: "BLOB_DIR (--blob-dir)" };
  return { store: `S3 store ${config.blobStore}`, storeSettings: "BLOB_STORE (--blob-store)" };
}
