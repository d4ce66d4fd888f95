/** How S3's answers and failures are told apart, for every S3-compatible server. */
import { errorCode, type StoreFailure } from "../../store-failures.js";

interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an S3 error answer, if it was one. */
export function statusOf(err: unknown): number | undefined {
  return (err as S3ErrorShape | null)?.$metadata?.httpStatusCode;
}

/** The S3 error code (NoSuchKey, NoSuchUpload, ...), if it was one. */
export function s3Code(err: unknown): string | undefined {
  const e = err as S3ErrorShape | null;
  return e?.Code ?? e?.name;
}

/**
 * No such key or upload (a HEAD answers a bare 404, so the status decides) — but not a missing
 * bucket, which is a misconfiguration, never content that went missing.
 */
export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 && s3Code(err) !== "NoSuchBucket";
}

// Network failures of the SDK's HTTP handler, as Node names them.
const networkCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * An S3 failure the service should answer as "try again later": the server could not be reached,
 * failed (5xx) or asked to slow down; or it is out of quota. A 4xx other than those is a bug or a
 * misconfiguration (wrong bucket, no permission) and stays unclassified, so it is logged as such.
 */
export function classifyS3Error(err: unknown): StoreFailure | undefined {
  const status = statusOf(err);
  const code = s3Code(err) ?? errorCode(err) ?? "";
  if (code === "QuotaExceeded" || code === "EntityTooLarge" || status === 507)
    return { kind: "full", store: "content", code };
  if ((status !== undefined && status >= 500) || code === "SlowDown" || code === "RequestTimeout" || status === 429)
    return { kind: "unavailable", store: "content", code: code || String(status) };
  const network = errorCode(err);
  if (network && networkCodes.has(network)) return { kind: "unavailable", store: "content", code: network };
  if (code === "TimeoutError" || code === "RequestTimeTooSkewed")
    return { kind: "unavailable", store: "content", code };
  return undefined;
}
