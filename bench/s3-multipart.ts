/**
 * The S3 upload rows' baseline: the AWS SDK alone putting the content into S3 as one multipart
 * upload, the way the service's appender does it and no more: parts of a fixed size filled in
 * memory (one copy of the bytes, as the service makes), at most `partsInFlight` UploadPart
 * requests on their way at once, then CompleteMultipartUpload. No hashing, no metadata, no tails.
 * Hand-written (CreateMultipartUpload, UploadPart, CompleteMultipartUpload) rather than
 * @aws-sdk/lib-storage's Upload, so that the part size and the parts in flight are exactly these.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";

/** Where the upload goes and how it is cut. */
export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  partsInFlight: number;
}

/** `chunks` gathered into buffers of `partSize` bytes (the last one shorter), each a new copy. */
export function* partsOf(chunks: Iterable<Uint8Array>, partSize: number): Generator<Buffer> {
  let gathered: Uint8Array[] = [];
  let length = 0;
  for (let chunk of chunks) {
    while (length + chunk.byteLength >= partSize) {
      const take = partSize - length;
      gathered.push(chunk.subarray(0, take));
      yield Buffer.concat(gathered, partSize);
      chunk = chunk.subarray(take);
      gathered = [];
      length = 0;
    }
    if (chunk.byteLength > 0) {
      gathered.push(chunk);
      length += chunk.byteLength;
    }
  }
  if (length > 0) yield Buffer.concat(gathered, length);
}

/** Uploads `chunks` to `target` as one multipart upload; aborts the upload when a request fails. */
export async function uploadMultipart(target: MultipartTarget, chunks: Iterable<Uint8Array>): Promise<void> {
  const { client, bucket, key, partSize, partsInFlight } = target;
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const completed: CompletedPart[] = [];
  const sending = new Set<Promise<void>>();
  try {
    let partNumber = 0;
    for (const body of partsOf(chunks, partSize)) {
      // The next part is filled while partsInFlight are on their way, then waits for a place.
      while (sending.size >= partsInFlight) await Promise.race(sending);
      const number = ++partNumber;
      const sent: Promise<void> = client
        .send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: number,
            Body: body,
            ContentLength: body.length,
          }),
        )
        .then(({ ETag }) => void completed.push({ PartNumber: number, ETag }))
        .finally(() => sending.delete(sent));
      // Its failure is seen by the race or the Promise.all that waits for it.
      sent.catch(() => undefined);
      sending.add(sent);
    }
    await Promise.all(sending);
    completed.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: completed } }),
    );
  } catch (err) {
    await Promise.allSettled(sending);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw err;
  }
}
