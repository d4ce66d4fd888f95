/**
 * The S3 store against a real S3 server (test/support/s3.ts): the BlobStore contract, then what is
 * its own — parts at 5 MiB ± 1, tails, a listing of more than 1,000 parts, aborts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { ListMultipartUploadsCommand, type S3Client } from "@aws-sdk/client-s3";
import type { BlobStore } from "../../src/store/blobs/blob-store.js";
import { createS3BlobStore } from "../../src/store/blobs/s3/s3-blob-store.js";
import { listTails, type S3Context } from "../../src/store/blobs/s3/s3-layout.js";
import { declaredSize, describeBlobStore, listAll, readAll } from "../support/blob-store-contract.js";
import { createTestBucket, describeWithS3, emptyBucket, testS3Client } from "../support/s3.js";
import { sha256 } from "../support/uploads.js";

const MiB = 1024 * 1024;
const minimumPart = 5 * MiB;

describeWithS3("S3 blob store", () => {
  let client: S3Client;
  let bucket: { bucket: string; dispose(): Promise<void> };
  beforeAll(async () => {
    client = testS3Client();
    bucket = await createTestBucket(client);
  });
  afterAll(() => bucket?.dispose());

  const context = (prefix: string, partSize = minimumPart): S3Context => ({
    client,
    bucket: bucket.bucket,
    prefix,
    partSize,
  });
  // Each test a prefix of its own in the one bucket (making buckets is slow on Swift).
  const fresh = (partSize?: number) => {
    const s3 = context(`t-${randomUUID()}/`, partSize);
    return { s3, store: createS3BlobStore(s3), dispose: () => emptyBucket(client, bucket.bucket, s3.prefix) };
  };

  describeBlobStore("s3", async () => fresh(), { readsPartial: false });

  describe("parts and tails", () => {
    let store: BlobStore;
    let s3: S3Context;
    let dispose: () => Promise<void>;
    beforeEach(() => {
      ({ store, s3, dispose } = fresh());
    });
    afterEach(() => dispose());

    /** Writes `data` from `offset` in pieces of `piece` bytes, syncing at the end (one request). */
    async function request(id: string, data: Buffer, offset: number, piece: number) {
      const a = await store.openAppend(id, offset, declaredSize);
      try {
        for (let at = 0; at < data.length; at += piece) await a.write(data.subarray(at, at + piece));
        await a.sync();
      } finally {
        await a.close();
      }
    }

    test.each([minimumPart - 1, minimumPart, minimumPart + 1, 2 * minimumPart + 1])(
      "%d bytes in requests that end anywhere complete into the same bytes",
      async (length) => {
        const id = randomUUID();
        const data = randomBytes(length);
        // Requests ending short of, at and past part boundaries; each starts from the last one's tail.
        const cuts = [0, 4999, minimumPart - 3, minimumPart, minimumPart + 2, length].filter((c) => c <= length);
        for (let i = 1; i < cuts.length; i++) {
          if (cuts[i] === cuts[i - 1]) continue;
          await request(id, data.subarray(cuts[i - 1], cuts[i]), cuts[i - 1], 64 * 1024 + 3);
          expect(await store.partialSize(id)).toBe(cuts[i]);
          // At most one tail is kept once the next request opens (none at a part boundary), beside
          // the empty one from 0 that marks the session's content as there.
          const tails = await listTails(s3, id);
          expect(tails.every((t) => t.end === cuts[i] || t.end === cuts[i - 1] || t.end === 0)).toBe(true);
        }
        await store.commit(id, length);
        expect(await store.size(id)).toBe(length);
        expect(sha256(await readAll(store.read(id, 0, length)))).toBe(sha256(data));
        const edge = Math.min(minimumPart, length - 1);
        expect(await readAll(store.read(id, edge - 1, edge + 1))).toEqual(data.subarray(edge - 1, edge + 1));
        await store.discardPartial(id);
        expect(await listAll(store.listPartials())).toEqual([]);
        expect(await listTails(s3, id)).toEqual([]);
      },
    );

    test("a refused request's bytes past a part boundary are cut off: the next request starts at the offset", async () => {
      const id = randomUUID();
      const good = randomBytes(minimumPart - 10);
      await request(id, good, 0, MiB);
      const a = await store.openAppend(id, good.length, declaredSize);
      await a.write(randomBytes(minimumPart)); // fills part 1 and sends it, then is refused
      await a.truncate(good.length);
      await a.close();
      const rest = randomBytes(100);
      await request(id, rest, good.length, 7);
      await store.commit(id, good.length + rest.length);
      expect(sha256(await readAll(store.read(id, 0, good.length + rest.length)))).toBe(
        sha256(Buffer.concat([good, rest])),
      );
    });

    test("a sync while writes go on makes its bytes durable, even when a later write sends their part", async () => {
      const id = randomUUID();
      const first = randomBytes(minimumPart - 100);
      const a = await store.openAppend(id, 0, declaredSize);
      await a.write(first);
      const syncing = a.sync();
      await a.write(randomBytes(200)); // fills part 1 and sends it while the sync waits
      await syncing;
      await a.close();
      // What the sync promised is there on its own: a tail of exactly those bytes.
      await (await store.openAppend(id, first.length, declaredSize)).close();
      await store.commit(id, first.length);
      expect(sha256(await readAll(store.read(id, 0, first.length)))).toBe(sha256(first));
    });

    test("discardPartial aborts the multipart upload and removes the tail", async () => {
      const id = randomUUID();
      await request(id, randomBytes(minimumPart + 10), 0, MiB);
      const uploads = async () =>
        (await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: s3.prefix }))).Uploads ?? [];
      expect(await uploads()).toHaveLength(1);
      expect((await listTails(s3, id)).length).toBeGreaterThan(0);
      await store.discardPartial(id);
      expect(await uploads()).toHaveLength(0);
      expect(await listTails(s3, id)).toHaveLength(0);
      expect(await store.partialSize(id)).toBeUndefined();
    });
  });

  test("more than 1,000 parts are all found: the part listing is paged", async () => {
    // Parts of 5 MiB would make this 5 GiB: 1 KiB parts (which S3 would not complete) are enough
    // to show that a session's content is found past the first page of ListParts.
    const { store, dispose } = fresh(1024);
    try {
      const id = randomUUID();
      const data = randomBytes(1024 * 1001 + 17);
      const a = await store.openAppend(id, 0, data.length);
      for (let at = 0; at < data.length; at += 64 * 1024) await a.write(data.subarray(at, at + 64 * 1024));
      await a.sync();
      await a.close();
      expect(await store.partialSize(id)).toBe(data.length);
      // Reopening finds every one of parts 1..1001 (else BlobMissingError) and the 17-byte tail.
      await (await store.openAppend(id, data.length, data.length)).close();
      expect(await store.partialSize(id)).toBe(data.length);
    } finally {
      await dispose();
    }
  }, 600_000);
});
