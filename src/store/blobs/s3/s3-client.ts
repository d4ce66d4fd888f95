/**
 * The S3 client and the settings that choose a bucket. Credentials, region and endpoint are read
 * by the AWS SDK itself, the way every AWS tool reads them (AWS_ACCESS_KEY_ID, AWS_REGION,
 * AWS_ENDPOINT_URL, profiles, instance roles); only what the SDK has no setting for is ours.
 */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";

/** Where in S3 the content lives: `s3://bucket[/prefix]`. */
export interface S3Location {
  bucket: string;
  /** Empty, or ending in "/". */
  prefix: string;
}

/** Parses `s3://bucket[/prefix]`; answers a message saying what is wrong when it is not one. */
export function parseS3Location(url: string): S3Location | string {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) return "is not s3://bucket[/prefix] with a valid bucket name (3-63 of a-z, 0-9, '.', '-')";
  const prefix = (m[2] ?? "").replace(/\/+$/, "");
  if (prefix.split("/").some((part) => part === "." || part === "..")) return "has '.' or '..' in its prefix";
  return { bucket: m[1], prefix: prefix === "" ? "" : `${prefix}/` };
}

/**
 * An S3 client that also works against S3-compatible servers. Bodies are sent with their length
 * and no streaming checksum (`WHEN_REQUIRED`): Swift's s3api and older MinIO answer 501 to the
 * aws-chunked encoding the SDK uses by default for streamed bodies, and AWS accepts both.
 * `forcePathStyle` is needed by most servers that are not AWS (MinIO, Swift, Ceph RGW).
 */
export function createS3Client(options: { forcePathStyle: boolean } & S3ClientConfig): S3Client {
  return new S3Client({
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...options,
  });
}
