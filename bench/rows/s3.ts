/**
 * S3 rows (`--blob-store s3`): the service storing into and serving from S3 (BLOB_STORE on the
 * run's bucket, S3_PART_SIZE 8 MiB), each beside the AWS SDK doing the same straight to the same
 * S3 with the service's client options (createS3Client):
 *
 *   s3-upload/*    baseline (CreateMultipartUpload, 8 MiB UploadParts with 2 in flight,
 *                  CompleteMultipartUpload: s3-multipart.ts), REST raw body, gRPC client stream
 *   s3-download/*  baseline (GetObject of the blob the service stored, its body streamed),
 *                  REST GET …:content of that same file
 *
 * The baselines run in the bench process: there is no server between the bench and S3, so the
 * "server" columns of their rows are the bench process itself, the one that runs the SDK. Every
 * byte is checked: the service's uploads by the sha256 it answers, the baseline's object read back
 * after the timing, downloads byte for byte as they arrive.
 */
import { GetObjectCommand, HeadBucketCommand, paginateListObjectsV2, type S3Client } from "@aws-sdk/client-s3";
import type { BenchContent, ContentVerifier } from "../content.js";
import { receiveContent, request } from "../http-client.js";
import { benchPartSize, benchPartsInFlight, type BenchS3 } from "../s3.js";
import { uploadMultipart } from "../s3-multipart.js";
import { checkEtag } from "./downloads.js";
import { measureBytes, withServer, type BenchContext, type BenchRow, type RowGoals } from "./row.js";
import {
  benchBucket,
  createSessionOverRest,
  filesClient,
  storeFile,
  uploadOverClientStream,
  uploadOverRest,
} from "./service-calls.js";

const MiB = 1024 * 1024;
const partMiB = benchPartSize / MiB;

/** The service's rows must reach these: most of the SDK's rate, and memory of ~64 MiB plus one part. */
const goals: RowGoals = { minRatio: 0.8, maxRssGrowthMiB: 64 + partMiB };

/** The file the download rows read. */
const downloadKey = "s3-download.bin";

function s3Of(context: BenchContext): NonNullable<BenchContext["s3"]> {
  if (!context.s3) throw new Error("the S3 rows need --blob-store s3");
  return context.s3;
}

/** Runs `use` with a new client of the run's S3 (its first request made, untimed), destroyed afterwards. */
async function withClient<T>(s3: BenchS3, use: (client: S3Client) => Promise<T>): Promise<T> {
  const client = s3.client();
  try {
    await client.send(new HeadBucketCommand({ Bucket: s3.bucket })); // warm-up: credentials, first connection
    return await use(client);
  } finally {
    client.destroy();
  }
}

/** Streams an object's body through `verifier` (GetObject, no range). */
async function receiveObject(client: S3Client, bucket: string, key: string, verifier: ContentVerifier): Promise<void> {
  const { Body } = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!Body) throw new Error(`GetObject ${key} answered no body`);
  for await (const data of Body as AsyncIterable<Uint8Array>) verifier.update(data);
  verifier.finish();
}

const uploadBaseline: BenchRow = {
  id: "s3-upload/baseline",
  group: "s3-upload",
  label: `S3 upload: baseline (SDK multipart straight to S3, ${partMiB} MiB parts, ${benchPartsInFlight} in flight; bench process)`,
  baseline: true,
  async run(context) {
    const s3 = s3Of(context);
    const { content } = context;
    // Beside the service's prefix, never in it: the service's store holds only its own keys.
    const key = "baseline/upload.bin";
    return withClient(s3, async (client) => {
      const target = { client, bucket: s3.bucket, key, partSize: benchPartSize, partsInFlight: benchPartsInFlight };
      const measurement = await measureBytes(process.pid, content.size, () => uploadMultipart(target, content.parts()));
      await receiveObject(client, s3.bucket, key, content.verifier());
      return measurement;
    });
  },
};

/** The service's REST raw-body or gRPC client-stream upload into S3. */
function serviceUploadRow(protocol: "rest" | "grpc"): BenchRow {
  const key = `s3-upload-${protocol}.bin`;
  return {
    id: `s3-upload/${protocol}`,
    group: "s3-upload",
    label:
      protocol === "rest"
        ? "S3 upload: REST raw body (HTTP/1.1) → service → S3"
        : "S3 upload: gRPC client stream (HTTP/2) → service → S3",
    baseline: false,
    goals,
    run: (context) =>
      withServer(s3Of(context).startService(), async (server) => {
        const { content } = context;
        let upload: () => Promise<string | undefined>;
        if (protocol === "rest") {
          await request(`${server.baseUrl}/v1/files`); // warm-up: first request, first database connections
          upload = async () => uploadOverRest(server, await createSessionOverRest(server, key, content), content);
        } else {
          const files = filesClient(server, "grpc");
          await files.listBuckets({}); // warm-up
          upload = () => uploadOverClientStream(files, key, content);
        }
        return measureBytes(server.pid, content.size, async () => {
          const sha256 = await upload();
          if (sha256 !== content.sha256)
            throw new Error(`${protocol} upload: the service answered sha256 ${sha256}, expected ${content.sha256}`);
        });
      }),
  };
}

/** The keys of the service's blobs of `size` bytes in the bucket. */
async function blobKeys(client: S3Client, s3: BenchS3, size: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: `${s3.prefix}blobs/` }))
    for (const object of page.Contents ?? []) if (object.Size === size) keys.push(object.Key!);
  return keys;
}

/** Whether the service already holds `bench/<key>` with exactly the content (GetFile over REST). */
async function holdsContent(baseUrl: string, key: string, content: BenchContent): Promise<boolean> {
  const answer = await request(`${baseUrl}/v1/files/${benchBucket}/${key}`);
  if (answer.status !== 200) return false;
  const { file } = JSON.parse(answer.text) as { file?: { sha256?: string; bytes?: string | number } };
  return file?.sha256 === content.sha256 && Number(file.bytes) === content.size;
}

const downloadBaseline: BenchRow = {
  id: "s3-download/baseline",
  group: "s3-download",
  label: "S3 download: baseline (SDK GetObject of the service's blob, body streamed; bench process)",
  baseline: true,
  async run(context) {
    const s3 = s3Of(context);
    const { content } = context;
    return withClient(s3, async (client) => {
      // Stored through the service (untimed), whose server is stopped before the timing; the
      // blob is the object of that size that was not there before.
      const before = new Set(await blobKeys(client, s3, content.size));
      await withServer(s3.startService(), (server) => storeFile(server, downloadKey, content));
      const added = (await blobKeys(client, s3, content.size)).filter((key) => !before.has(key));
      if (added.length !== 1)
        throw new Error(`storing ${downloadKey} added ${added.length} blobs of ${content.size} bytes, expected one`);
      return measureBytes(process.pid, content.size, () =>
        receiveObject(client, s3.bucket, added[0], content.verifier()),
      );
    });
  },
};

const downloadRest: BenchRow = {
  id: "s3-download/rest",
  group: "s3-download",
  label: "S3 download: REST GET …:content (HTTP/1.1) ← service ← S3",
  baseline: false,
  goals,
  run: (context) =>
    withServer(s3Of(context).startService(), async (server) => {
      const { content } = context;
      // The file the baseline stored and read (it runs first); stored here only when it is not there.
      if (!(await holdsContent(server.baseUrl, downloadKey, content))) await storeFile(server, downloadKey, content);
      return measureBytes(server.pid, content.size, async () => {
        const answer = await receiveContent(
          `${server.baseUrl}/v1/files/${benchBucket}/${downloadKey}:content`,
          {},
          content.verifier(),
        );
        checkEtag(answer, content);
      });
    }),
};

/** The S3 rows, each group's baseline first. */
export const s3Rows: BenchRow[] = [
  uploadBaseline,
  serviceUploadRow("rest"),
  serviceUploadRow("grpc"),
  downloadBaseline,
  downloadRest,
];
