/**
 * A BlobStore in an S3 bucket (AWS S3, MinIO, Ceph RGW, Swift's s3api). Nothing about the content
 * is kept outside the bucket, so any number of servers share one bucket and any of them serves any
 * request of an upload: the layout (s3-layout.ts) says where each session's bytes are, and the
 * committed offset in Postgres says how many of them count. A session's content is a multipart
 * upload on its blob's own key plus at most one small tail object (s3-appender.ts); committing
 * completes the upload, so the blob appears whole or not at all. The design is in the README.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { BlobMissingError, contentIdPattern, type BlobStore, type StoreOwner } from "../blob-store.js";
import { abortUpload, openS3Appender } from "./s3-appender.js";
import { classifyS3Error, isNotFound, s3Code, statusOf } from "./s3-errors.js";
import {
  blobKey,
  blobsPrefix,
  contiguousParts,
  deleteObject,
  findUpload,
  listParts,
  listTails,
  listUploads,
  objectSize,
  ownerKey,
  partialsPrefix,
  readObject,
  readSmallObject,
  sessionPartSize,
  type S3Context,
} from "./s3-layout.js";

/** The S3 store of `s3`'s bucket and prefix (which must exist; nothing is created but objects). */
export function createS3BlobStore(s3: S3Context): BlobStore {
  const { client, bucket } = s3;

  async function readOwner(): Promise<StoreOwner | undefined> {
    let text: string;
    try {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: ownerKey(s3) }));
      text = await answer.Body!.transformToString();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const owner = JSON.parse(text) as Partial<StoreOwner>;
    if (typeof owner.storeId !== "string" || typeof owner.databaseId !== "string")
      throw new Error(
        `s3://${bucket}/${ownerKey(s3)} is not an owner record of this service (storeId and databaseId missing)`,
      );
    return owner as StoreOwner;
  }

  async function* listKeys(prefix: string, delimiter?: string): AsyncIterable<string> {
    for await (const page of paginateListObjectsV2(
      { client },
      { Bucket: bucket, Prefix: prefix, Delimiter: delimiter },
    )) {
      for (const object of page.Contents ?? []) yield object.Key!.slice(prefix.length);
      for (const common of page.CommonPrefixes ?? []) yield common.Prefix!.slice(prefix.length);
    }
  }

  async function holdsAny(prefix: string): Promise<boolean> {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }));
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  }

  /**
   * Completes `id`'s content of `length` bytes into its blob: parts 1..n of `uploadId`, then the
   * tail as the last part; without an upload, the tail alone.
   */
  async function complete(id: string, length: number, uploadId: string | undefined): Promise<void> {
    const key = blobKey(s3, id);
    if (!uploadId) {
      // Never a full part: the content is one tail (or nothing), copied to the blob's key.
      if (length === 0) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(0), ContentLength: 0 }));
        return;
      }
      const tail = (await listTails(s3, id)).find((t) => t.start === 0 && t.end === length);
      if (!tail) throw new BlobMissingError(`content of upload ${id} (${length} bytes)`);
      await client.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, tail.key) }));
      return;
    }
    const parts = await listParts(s3, id, uploadId);
    const partSize = sessionPartSize(s3, parts, length);
    const full = Math.floor(length / partSize);
    if (contiguousParts(parts, partSize) < full) throw new BlobMissingError(`part ${full} of upload ${id}`);
    const completed: { PartNumber: number; ETag?: string }[] = parts
      .slice(0, full)
      .map((p) => ({ PartNumber: p.number, ETag: p.etag }));
    const rest = length - full * partSize;
    if (rest > 0 || full === 0) {
      const tails = (await listTails(s3, id)).filter((t) => t.start === full * partSize && t.end >= length);
      const tail = tails.find((t) => t.end === length) ?? tails[0];
      if (!tail) throw new BlobMissingError(`bytes ${full * partSize}-${length} of upload ${id}`);
      const last = { Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: full + 1 };
      // The ETag S3 answers for the last part, not a listing's: Swift lists a part copied whole as "".
      let etag: string | undefined;
      if (tail.end === length) {
        // The last part may be short; copied inside S3, its bytes never pass through here again.
        const copied = await client.send(
          new UploadPartCopyCommand({ ...last, CopySource: copySource(bucket, tail.key) }),
        );
        etag = copied.CopyPartResult?.ETag;
      } else {
        // AWS copies a range only of a source larger than 5 MB: a longer tail's start is sent instead.
        const bytes = await readSmallObject(s3, tail.key, 0, rest, `tail ${tail.key}`);
        etag = (await client.send(new UploadPartCommand({ ...last, Body: bytes, ContentLength: bytes.length }))).ETag;
      }
      completed.push({ PartNumber: full + 1, ETag: etag });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: completed },
      }),
    );
  }

  return {
    readOwner,

    async claimOwner(owner) {
      const body = `${JSON.stringify(owner, null, 2)}\n`;
      const put = (conditional: boolean) =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: ownerKey(s3),
            Body: body,
            ContentType: "application/json",
            ...(conditional ? { IfNoneMatch: "*" } : {}),
          }),
        );
      try {
        // Of two claims at once, the conditional put lets exactly one win.
        await put(true);
      } catch (err) {
        if (statusOf(err) === 412 || s3Code(err) === "PreconditionFailed") return (await readOwner())!;
        // Servers without conditional writes (Swift's s3api): claim only if no record is there.
        // Two first starts in the same instant could both write; the database then binds one.
        if (statusOf(err) !== 501) throw err;
        const existing = await readOwner();
        if (existing) return existing;
        await put(false);
      }
      return (await readOwner())!;
    },

    async isEmpty() {
      const [blobs, partials, uploads] = await Promise.all([
        holdsAny(blobsPrefix(s3)),
        holdsAny(partialsPrefix(s3)),
        listUploads(s3, blobsPrefix(s3)),
      ]);
      return !blobs && !partials && uploads.length === 0;
    },

    openAppend: (uploadId, offset, declaredSize) => openS3Appender(s3, uploadId, offset, declaredSize),

    async partialSize(uploadId) {
      const [uploadId_, tails] = await Promise.all([findUpload(s3, uploadId), listTails(s3, uploadId)]);
      const parts = uploadId_ ? await listParts(s3, uploadId, uploadId_) : [];
      if (!uploadId_ && tails.length === 0) return undefined;
      const partSize = sessionPartSize(s3, parts, 0);
      let extent = contiguousParts(parts, partSize) * partSize;
      for (const tail of tails) if (tail.start <= extent) extent = Math.max(extent, tail.end);
      return extent;
    },

    async commit(uploadId, length) {
      const key = blobKey(s3, uploadId); // checks the id before anything is asked
      const [upload, before] = await Promise.all([findUpload(s3, uploadId), objectSize(s3, key)]);
      if (!upload && before === length) return; // done before
      await complete(uploadId, length, upload).catch((err: unknown) => {
        // A source or the upload gone (a cancel meanwhile): the content is missing, as a cancel makes it.
        throw isNotFound(err) ? new BlobMissingError(`content of upload ${uploadId} (${s3Code(err)})`) : err;
      });
      const size = await objectSize(s3, key);
      if (size !== length) throw new Error(`blob ${uploadId} has ${size} bytes after its commit, not ${length}`);
    },

    async discardPartial(uploadId) {
      const uploads = await listUploads(s3, blobKey(s3, uploadId));
      await Promise.all(uploads.map((u) => abortUpload(s3, uploadId, u.uploadId)));
      const tails = await listTails(s3, uploadId);
      await Promise.all(tails.map((t) => deleteObject(s3, t.key)));
    },

    read: (blobId, start, end) => readObject(s3, blobKey(s3, blobId), start, end, `content of blob ${blobId}`),

    size: (blobId) => objectSize(s3, blobKey(s3, blobId)),

    delete: (blobId) => deleteObject(s3, blobKey(s3, blobId)),

    async *listPartials() {
      const ids = new Set<string>();
      for await (const name of listKeys(partialsPrefix(s3), "/")) ids.add(name.replace(/\/$/, ""));
      for (const upload of await listUploads(s3, blobsPrefix(s3))) ids.add(upload.key.slice(blobsPrefix(s3).length));
      for (const id of [...ids].sort()) if (contentIdPattern.test(id)) yield id;
    },

    async *listBlobs() {
      for await (const name of listKeys(blobsPrefix(s3))) if (contentIdPattern.test(name)) yield name;
    },

    classifyError: classifyS3Error,
  };
}

/** CopySource names the bucket and the key, URL-encoded (keys here are plain, but prefixes may not be). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}
