/**
 * The S3 the `--blob-store s3` rows store into: where it is (S3_TEST_* as the tests read them, else
 * the standard AWS_* the SDK reads), a bucket of the run's own, created first and emptied (objects
 * and multipart uploads) and removed at the end, and the environment that points the service at it.
 */
import { randomBytes } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  HeadBucketCommand,
  type S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { createS3Client } from "../src/store/blobs/s3/s3-client.js";
import { emptyBucket } from "../test/support/s3.js";

/** The part size of the service (S3_PART_SIZE) and of the baseline's multipart upload. */
export const benchPartSize = 8 * 1024 * 1024;
/** Parts on their way at once in the baseline, as the service's appender allows per upload. */
export const benchPartsInFlight = 2;

/** The bench's S3: its bucket, a client of it, and how the service is pointed at it. */
export interface BenchS3 {
  /** Where the S3 is, for the report: the endpoint, or "AWS". */
  where: string;
  bucket: string;
  /** The service's prefix in the bucket: BLOB_STORE is s3://bucket/<prefix without its "/">. */
  prefix: string;
  /** A new client with the options the service's client has (createS3Client); destroy it after use. */
  client(): S3Client;
  /** BLOB_STORE, S3_PART_SIZE and, when the settings came from S3_TEST_*, the AWS_* the SDK reads. */
  serviceEnv: Record<string, string>;
}

/** The run's bucket and how it goes at the end. */
export interface BenchBucket {
  s3: BenchS3;
  /** Aborts its multipart uploads, deletes its objects, and removes it. */
  remove(): Promise<void>;
}

/** Where the S3 is: S3_TEST_* (endpoint and keys), else AWS_* (read by the SDK itself), else undefined. */
interface S3Settings {
  where: string;
  /** The AWS_* a process needs to reach it (empty when they are already this process's own). */
  awsEnv: Record<string, string>;
  /** The same, as the bench's clients take them (empty: the SDK reads this process's AWS_*). */
  clientConfig: S3ClientConfig;
  /** A custom endpoint: path style, unless S3_FORCE_PATH_STYLE says otherwise (as the service decides). */
  customEndpoint: boolean;
}

export const missingS3Message =
  "--blob-store s3 needs an S3: set S3_TEST_ENDPOINT, S3_TEST_REGION, S3_TEST_ACCESS_KEY_ID and " +
  "S3_TEST_SECRET_ACCESS_KEY (or the standard AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, " +
  "AWS_SECRET_ACCESS_KEY). For the S3 of this repository: `bash tools/object-store/swift-s3.sh start`, " +
  'then `eval "$(bash tools/object-store/swift-s3.sh env)"`.';

function s3Settings(env: NodeJS.ProcessEnv): S3Settings | undefined {
  if (env.S3_TEST_ENDPOINT) {
    const endpoint = env.S3_TEST_ENDPOINT;
    const region = env.S3_TEST_REGION ?? "us-east-1";
    const accessKeyId = env.S3_TEST_ACCESS_KEY_ID ?? "";
    const secretAccessKey = env.S3_TEST_SECRET_ACCESS_KEY ?? "";
    return {
      where: endpoint,
      awsEnv: {
        AWS_ENDPOINT_URL: endpoint,
        // The SDK prefers the S3-specific endpoint: set too, so that no other one in the env wins.
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
      },
      clientConfig: { endpoint, region, credentials: { accessKeyId, secretAccessKey } },
      customEndpoint: true,
    };
  }
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  if (endpoint || env.AWS_ACCESS_KEY_ID)
    return { where: endpoint || "AWS", awsEnv: {}, clientConfig: {}, customEndpoint: Boolean(endpoint) };
  return undefined;
}

/**
 * Creates the run's bucket on the S3 the environment names; throws {@link missingS3Message} when it
 * names none. `remove` empties the bucket and removes it.
 */
export async function openBenchS3(env: NodeJS.ProcessEnv = process.env): Promise<BenchBucket> {
  const settings = s3Settings(env);
  if (!settings) throw new Error(missingS3Message);
  const pathStyle = env.S3_FORCE_PATH_STYLE ?? "auto";
  const forcePathStyle = pathStyle === "auto" ? settings.customEndpoint : pathStyle === "true";
  const client = () => createS3Client({ forcePathStyle, ...settings.clientConfig });
  const bucket = `files-bench-${randomBytes(6).toString("hex")}`;
  const prefix = "service/";
  const admin = client();
  try {
    const region = await admin.config.region();
    await admin.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
      }),
    );
    await admin.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    admin.destroy();
    throw new Error(`could not create the bench bucket ${bucket} on ${settings.where}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    s3: {
      where: settings.where,
      bucket,
      prefix,
      client,
      serviceEnv: {
        ...settings.awsEnv,
        BLOB_STORE: `s3://${bucket}/${prefix.slice(0, -1)}`,
        S3_PART_SIZE: String(benchPartSize),
      },
    },
    async remove() {
      try {
        await emptyBucket(admin, bucket);
        await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
      } finally {
        admin.destroy();
      }
    },
  };
}
