/**
 * Appending to a session's content in S3, where an object cannot be appended to and a multipart
 * upload's part is all-or-nothing and at least 5 MiB (but the last):
 *
 * - Bytes are gathered into the part they belong to (parts are fixed: part k holds bytes
 *   [(k-1)·P, k·P)). A full part is sent at once, while the next one fills; at most
 *   `partsInFlight` are on their way, so memory stays under (partsInFlight + 1) · P per upload.
 * - `sync` (a checkpoint, or the end of a request) takes what does not fill a part at once, waits
 *   for the parts sent before it, then writes that as a tail object [start, end). Only then may
 *   the offset count it. Writes go on meanwhile; a checkpoint at a part boundary needs no tail.
 * - Opening at a committed offset reads that offset's tail back (less than one part) as the start
 *   of the part being filled, and removes every other tail: bytes past the offset never counted.
 *
 * The part being filled is held in memory rather than streamed to S3 as it arrives: a part's
 * length is declared before its first byte, and a request may end anywhere, so the bytes of an
 * unfinished part must still be at hand to write its tail. Whole parts are also what lets the SDK
 * retry a part that failed on the way.
 */
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { BlobMissingError, type BlobAppender } from "../blob-store.js";
import {
  blobKey,
  contiguousParts,
  deleteObject,
  findUpload,
  listParts,
  listTails,
  objectSize,
  readSmallObject,
  sessionPartSize,
  tailKey,
  type S3Context,
  type Tail,
} from "./s3-layout.js";
import { isNotFound } from "./s3-errors.js";

// Full parts on their way to S3 at once, per upload.
const partsInFlight = 2;

/** Where a session's content stands in S3 at a committed offset. */
interface Position {
  uploadId: string | undefined;
  partSize: number;
  /** Parts 1..partsDone are there and counted. */
  partsDone: number;
  /** The bytes from partsDone · partSize to the offset (the tail), in memory. */
  head: Buffer;
  /** The tail object that holds `head`, if any (none at a part boundary). */
  tail: Tail | undefined;
}

/** Opens `id` for appending at the committed `offset`; see BlobStore.openAppend. */
export async function openS3Appender(
  s3: S3Context,
  id: string,
  offset: number,
  declaredSize: number,
): Promise<BlobAppender> {
  const [uploadId, tails] = await Promise.all([findUpload(s3, id), listTails(s3, id)]);
  let position: Position;
  try {
    position = await locate(s3, id, offset, declaredSize, uploadId, tails);
  } catch (err) {
    // Completed already (the database did not hear of it: it failed, or the process died, just
    // after): the blob holds all of it, and committing it again finds it done.
    if (err instanceof BlobMissingError && !uploadId && (await objectSize(s3, blobKey(s3, id))) === offset)
      return completedContent(offset);
    throw err;
  }
  // The one tail that offset counts, exactly as long as it counts; every other one goes.
  let keep = position.tail;
  if (keep && keep.end !== offset) keep = await putTail(s3, id, keep.start, position.head);
  // The empty tail from 0 stays while the session lives (new content gets it here): it is how a
  // listing finds every session (MinIO lists no multipart uploads by a prefix shorter than their
  // whole key). A multipart upload starts with the first full part.
  const marker = tailKey(s3, id, 0, 0);
  if (!tails.some((t) => t.key === marker) && keep?.key !== marker) await putTail(s3, id, 0, Buffer.alloc(0));
  const stale = tails.filter((t) => t.key !== keep?.key && t.key !== marker);
  await Promise.all(stale.map((t) => deleteObject(s3, t.key)));
  return new S3Appender(s3, id, declaredSize, { ...position, tail: keep });
}

/** Finds the parts and the tail that hold the first `offset` bytes; BlobMissingError if they are not all there. */
async function locate(
  s3: S3Context,
  id: string,
  offset: number,
  declaredSize: number,
  uploadId: string | undefined,
  tails: Tail[],
): Promise<Position> {
  const parts = uploadId ? await listParts(s3, id, uploadId) : [];
  const partSize = sessionPartSize(s3, parts, declaredSize);
  // Without parts, a tail from 0 holds everything (even more than one part, if the part size changed).
  const partsDone = parts.length > 0 ? Math.floor(offset / partSize) : 0;
  if (contiguousParts(parts, partSize) < partsDone)
    throw new BlobMissingError(`part ${partsDone} of upload ${id} (${offset} bytes committed)`);
  const start = partsDone * partSize;
  if (offset === start) return { uploadId, partSize, partsDone, head: Buffer.alloc(0), tail: undefined };
  // The tail the committing writer wrote ends exactly at the offset; a longer one holds it too.
  const candidates = tails.filter((t) => t.start === start && t.end >= offset).sort((a, b) => a.end - b.end);
  const tail = candidates[0];
  if (!tail) throw new BlobMissingError(`bytes ${start}-${offset} of upload ${id}`);
  const head = await readSmallObject(s3, tail.key, 0, offset - start, `tail ${tail.key}`);
  return { uploadId, partSize, partsDone, head, tail };
}

/** The content of a session that is complete: nothing more to write, nothing to sync. */
function completedContent(length: number): BlobAppender {
  return {
    write: async () => {
      throw new Error(`the content is complete (${length} bytes)`);
    },
    sync: async () => undefined,
    truncate: async (to) => {
      if (to !== length) throw new Error(`the content is complete (${length} bytes)`);
    },
    close: async () => undefined,
  };
}

async function putTail(s3: S3Context, id: string, start: number, bytes: Buffer): Promise<Tail> {
  const key = tailKey(s3, id, start, start + bytes.length);
  await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
  return { start, end: start + bytes.length, key };
}

class S3Appender implements BlobAppender {
  readonly #s3: S3Context;
  readonly #id: string;
  readonly #declaredSize: number;
  readonly #partSize: number;
  #uploadId: string | undefined;
  #starting: Promise<string> | undefined;
  /**
   * The part being filled, bytes from #partStart on. Bytes are copied in as they arrive, so that
   * the request's own buffers die young; part buffers are reused once S3 has taken them (a new
   * 8 MiB buffer per part was garbage the GC freed late, and memory grew by several parts).
   */
  #part: Buffer;
  #filled = 0;
  #partStart = 0;
  #nextPart = 1;
  /** Part buffers S3 has taken, to fill again. */
  readonly #spareParts: Buffer[] = [];
  /** Writes, syncs and truncates in the order they were called (each waits for the one before). */
  #queue: Promise<unknown> = Promise.resolve();
  /** The tail that holds everything up to the last sync, if one is needed. */
  #tail: Tail | undefined;
  /** Parts on their way: each leaves the set once S3 has answered it. */
  readonly #inflight = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  #closed = false;

  constructor(s3: S3Context, id: string, declaredSize: number, at: Position) {
    this.#s3 = s3;
    this.#id = id;
    this.#declaredSize = declaredSize;
    this.#partSize = at.partSize;
    this.#uploadId = at.uploadId;
    this.#part = Buffer.allocUnsafeSlow(at.partSize);
    this.#queue = this.#start(at);
  }

  /** Part boundaries: a sync there writes no tail. */
  get checkpointAlignment(): number {
    return this.#partSize;
  }

  async write(data: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (data.byteLength === 0) return;
    await this.#inTurn(() => this.#append(data));
    this.#throwIfFailed();
  }

  async sync(length?: number): Promise<void> {
    // Taken in turn: writes called later go on while this waits, and may send the part these
    // bytes are in, but the tail written here holds exactly what was written before.
    const { start, sent, tail } = await this.#inTurn(async () => {
      if (this.#filled === this.#partSize) await this.#sendPart();
      const start = this.#partStart;
      const end = start + this.#filled;
      const sent = [...this.#inflight];
      if ((length !== undefined && length <= start) || end === start) return { start, sent, tail: undefined };
      if (this.#tail?.start === start && this.#tail.end === end) return { start, sent, tail: undefined };
      return { start, sent, tail: Buffer.from(this.#part.subarray(0, this.#filled)) };
    });
    await Promise.all(sent);
    this.#throwIfFailed();
    if (tail) this.#tail = await putTail(this.#s3, this.#id, start, tail);
  }

  async truncate(length: number): Promise<void> {
    await this.#inTurn(async () => {
      await this.#settleParts();
      if (length >= this.#partStart) {
        if (length > this.#partStart + this.#filled)
          throw new Error(`cannot truncate to ${length}: only ${this.#partStart + this.#filled} bytes`);
        this.#filled = length - this.#partStart;
        // The last tail may hold bytes past `length`: the next sync writes one of its own.
        if (this.#tail && this.#tail.end > length) this.#tail = undefined;
        return;
      }
      // Back before parts already sent: start that part again from the tail at `length`.
      const tails = await listTails(this.#s3, this.#id);
      await this.#start(await locate(this.#s3, this.#id, length, this.#declaredSize, this.#uploadId, tails));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.catch(() => undefined);
    await this.#settleParts();
  }

  /** Runs `step` after every write, sync and truncate called before it. */
  #inTurn<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(step);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Starts filling at `at`: its head (the committed tail's bytes) first. */
  async #start(at: Position): Promise<void> {
    this.#partStart = at.partsDone * this.#partSize;
    this.#nextPart = at.partsDone + 1;
    this.#filled = 0;
    this.#tail = at.tail;
    await this.#append(at.head);
  }

  /** Copies `data` in, sending each part that fills (waiting while two are on their way). */
  async #append(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.byteLength; ) {
      if (this.#filled === this.#partSize) await this.#sendPart();
      const n = Math.min(data.byteLength - at, this.#partSize - this.#filled);
      this.#part.set(n === data.byteLength ? data : data.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
    }
    if (this.#filled === this.#partSize && this.#inflight.size < partsInFlight) await this.#sendPart();
  }

  /** Sends the full part once fewer than two are on their way, and starts filling the next. */
  async #sendPart(): Promise<void> {
    while (this.#inflight.size >= partsInFlight) await Promise.race(this.#inflight);
    const body = this.#part;
    const partNumber = this.#nextPart++;
    this.#part = this.#spareParts.pop() ?? Buffer.allocUnsafeSlow(this.#partSize);
    this.#filled = 0;
    this.#partStart += this.#partSize;
    const sent = (async () => {
      const uploadId = await this.#upload();
      await this.#s3.client.send(
        new UploadPartCommand({
          Bucket: this.#s3.bucket,
          Key: blobKey(this.#s3, this.#id),
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      // Answered: the request has sent all of it. (A failed one may not have: its buffer is dropped.)
      this.#spareParts.push(body);
    })().catch((error: unknown) => {
      this.#failure ??= { error };
    });
    this.#inflight.add(sent);
    void sent.then(() => this.#inflight.delete(sent));
  }

  /** The session's multipart upload, started with its first full part. */
  #upload(): Promise<string> {
    if (this.#uploadId) return Promise.resolve(this.#uploadId);
    this.#starting ??= this.#s3.client
      .send(new CreateMultipartUploadCommand({ Bucket: this.#s3.bucket, Key: blobKey(this.#s3, this.#id) }))
      .then(async ({ UploadId }) => {
        // Another writer may have started one meanwhile: every writer goes on with the oldest.
        const chosen = (await findUpload(this.#s3, this.#id)) ?? UploadId!;
        if (chosen !== UploadId) await abortUpload(this.#s3, this.#id, UploadId!);
        this.#uploadId = chosen;
        return chosen;
      });
    return this.#starting;
  }

  async #settleParts(): Promise<void> {
    await Promise.all([...this.#inflight]);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}

export async function abortUpload(s3: S3Context, id: string, uploadId: string): Promise<void> {
  await s3.client
    .send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: blobKey(s3, id), UploadId: uploadId }))
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err; // already gone: what an abort wants
    });
}
