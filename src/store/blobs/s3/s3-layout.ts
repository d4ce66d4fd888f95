/**
 * Where a session's content is in the bucket, and how it is found again from the bucket alone (no
 * server keeps anything about it):
 *
 *   <prefix>owner.json                    the database this bucket (and prefix) belongs to
 *   <prefix>blobs/<uuid>                  committed content, and the key of its session's multipart upload
 *   <prefix>partial/<uuid>/<start>-<end>  a tail: bytes [start, end) that do not fill a part yet
 *
 * A session's content is parts 1..n of its multipart upload, every one `partSize` bytes, then at
 * most one tail starting at n·partSize. A tail is never overwritten by different bytes: each has
 * its own [start, end) name, so writing a new one never touches the one the committed offset counts.
 */
import {
  ListMultipartUploadsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  ListPartsCommand,
  type ListPartsCommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BlobMissingError, contentIdPattern } from "../blob-store.js";
import type { S3Location } from "./s3-client.js";
import { isNotFound } from "./s3-errors.js";

/** The bucket, its keys, and how big parts are. */
export interface S3Context extends S3Location {
  client: S3Client;
  /** Bytes of every part but the last, unless a session's size needs larger ones (partSizeFor). */
  partSize: number;
}

/** Bytes [start, end) of a session, kept as an object of its own. */
export interface Tail {
  start: number;
  end: number;
  key: string;
}

/** One uploaded part of a multipart upload. */
export interface Part {
  number: number;
  size: number;
  etag: string;
}

// S3 allows at most 10,000 parts; a part may be as large as 5 GiB.
const maxParts = 10_000;
const MiB = 1024 * 1024;

/** The part size a session of `declaredSize` bytes uses: the configured one, or larger to fit 10,000 parts. */
export function partSizeFor(minimum: number, declaredSize: number): number {
  const needed = Math.ceil(declaredSize / maxParts);
  return needed <= minimum ? minimum : Math.ceil(needed / MiB) * MiB;
}

export function checkedId(id: string): string {
  if (!contentIdPattern.test(id)) throw new Error(`invalid blob id ${JSON.stringify(id)}`);
  return id;
}

export const ownerKey = (s3: S3Context) => `${s3.prefix}owner.json`;
export const blobsPrefix = (s3: S3Context) => `${s3.prefix}blobs/`;
export const partialsPrefix = (s3: S3Context) => `${s3.prefix}partial/`;
export const blobKey = (s3: S3Context, id: string) => `${blobsPrefix(s3)}${checkedId(id)}`;
export const tailsPrefix = (s3: S3Context, id: string) => `${partialsPrefix(s3)}${checkedId(id)}/`;
export const tailKey = (s3: S3Context, id: string, start: number, end: number) =>
  `${tailsPrefix(s3, id)}${start}-${end}`;

/** Every tail of a session. */
export async function listTails(s3: S3Context, id: string): Promise<Tail[]> {
  const prefix = tailsPrefix(s3, id);
  const tails: Tail[] = [];
  for await (const page of paginateListObjectsV2({ client: s3.client }, { Bucket: s3.bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      const m = /^(\d+)-(\d+)$/.exec(object.Key!.slice(prefix.length));
      if (m) tails.push({ start: Number(m[1]), end: Number(m[2]), key: object.Key! });
    }
  }
  return tails;
}

/**
 * The multipart upload of a session, if one was started. Should two have been started (two
 * writers racing past the session lock), every writer picks the same one: the oldest.
 */
export async function findUpload(s3: S3Context, id: string): Promise<string | undefined> {
  const uploads = await listUploads(s3, blobKey(s3, id));
  uploads.sort((a, b) => a.initiated - b.initiated || (a.uploadId < b.uploadId ? -1 : 1));
  return uploads[0]?.uploadId;
}

/** Multipart uploads in progress whose key starts with `prefix` (paged past 1,000). */
export async function listUploads(
  s3: S3Context,
  prefix: string,
): Promise<{ key: string; uploadId: string; initiated: number }[]> {
  const found: { key: string; uploadId: string; initiated: number }[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await s3.client.send(
      new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }),
    );
    const uploads = page.Uploads ?? [];
    for (const upload of uploads)
      if (upload.Key?.startsWith(prefix))
        found.push({ key: upload.Key, uploadId: upload.UploadId!, initiated: upload.Initiated?.getTime() ?? 0 });
    if (!page.IsTruncated || uploads.length === 0) return found;
    // Swift's s3api leaves the Next markers empty; the last upload listed is where the next page starts.
    const last = uploads[uploads.length - 1];
    KeyMarker = page.NextKeyMarker || last.Key;
    UploadIdMarker = page.NextUploadIdMarker || last.UploadId;
  }
}

/** The parts of a multipart upload, by number (paged past 1,000); none when the upload is gone. */
export async function listParts(s3: S3Context, id: string, uploadId: string): Promise<Part[]> {
  const parts: Part[] = [];
  // Paged by IsTruncated, not by the SDK's paginator: Swift's s3api answers a NextPartNumberMarker
  // on the last page too, and the paginator then starts over from the first page, forever.
  let PartNumberMarker: string | undefined;
  for (;;) {
    let page: ListPartsCommandOutput;
    try {
      page = await s3.client.send(
        new ListPartsCommand({ Bucket: s3.bucket, Key: blobKey(s3, id), UploadId: uploadId, PartNumberMarker }),
      );
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const listed = page.Parts ?? [];
    for (const part of listed) parts.push({ number: part.PartNumber!, size: part.Size!, etag: part.ETag! });
    if (!page.IsTruncated || listed.length === 0) break;
    PartNumberMarker = String(listed[listed.length - 1].PartNumber);
  }
  return parts.sort((a, b) => a.number - b.number);
}

/** The part size of a session whose upload has `parts`: part 1's, else the one its size chooses. */
export function sessionPartSize(s3: S3Context, parts: Part[], declaredSize: number): number {
  const first = parts.find((p) => p.number === 1);
  return first ? first.size : partSizeFor(s3.partSize, declaredSize);
}

/** How many parts from part 1 on are all there, each `partSize` bytes. */
export function contiguousParts(parts: Part[], partSize: number): number {
  let n = 0;
  for (const part of parts) {
    if (part.number !== n + 1 || part.size !== partSize) break;
    n++;
  }
  return n;
}

/** The size of an object, or undefined when there is none. */
export async function objectSize(s3: S3Context, key: string): Promise<number | undefined> {
  try {
    return (await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))).ContentLength;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Deletes an object (S3 answers a missing one as deleted too). */
export async function deleteObject(s3: S3Context, key: string): Promise<void> {
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: key }));
}

/** Bytes [start, end) of an object, streamed; BlobMissingError (saying `what`) when there is no such object. */
export async function* readObject(
  s3: S3Context,
  key: string,
  start: number,
  end: number,
  what: string,
): AsyncIterable<Uint8Array> {
  if (end <= start) {
    if ((await objectSize(s3, key)) === undefined) throw new BlobMissingError(what);
    return;
  }
  let body: AsyncIterable<Uint8Array>;
  try {
    const answer = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
    );
    body = answer.Body as AsyncIterable<Uint8Array>;
  } catch (err) {
    if (isNotFound(err)) throw new BlobMissingError(what);
    throw err;
  }
  let received = 0;
  for await (const chunk of body) {
    received += chunk.byteLength;
    yield chunk;
  }
  // A shorter object answers a shorter range: the content is not what it should be.
  if (received < end - start) throw new BlobMissingError(`${what} (${received} of ${end - start} bytes)`);
}

/** Bytes [start, end) of an object, in memory (only for tails: less than one part). */
export async function readSmallObject(s3: S3Context, key: string, start: number, end: number, what: string) {
  const chunks: Uint8Array[] = [];
  for await (const chunk of readObject(s3, key, start, end, what)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
