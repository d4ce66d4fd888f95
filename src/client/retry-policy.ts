/**
 * When the client library tries a call again, and how long it waits first: bounded exponential
 * backoff with full jitter, counted in consecutive failures that made no progress (an upload or a
 * download that moves forward between two cuts starts counting again, so a long transfer over a
 * flaky network finishes, while a server that keeps refusing is given up on).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Consecutive failures without progress after which the last error is thrown (default 8). */
  maxAttempts: number;
  /** Upper bound of the first wait, in milliseconds (default 200). */
  initialDelayMs: number;
  /** Upper bound of any wait, in milliseconds (default 10,000). */
  maxDelayMs: number;
}

/** The defaults: at most about 40 s of waiting before giving up on a server that stays away. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 8, initialDelayMs: 200, maxDelayMs: 10_000 };

/** What a retry callback is told: which failure it was, the error, and the wait before the next try. */
export interface RetryEvent {
  /** 1 for the first failure since the last progress. */
  attempt: number;
  /** How long the client waits before trying again. */
  delayMs: number;
  /** The failure. */
  error: ConnectError;
  /** The byte offset the next try starts from, when already known (otherwise it asks the server). */
  offset?: number;
}

/**
 * The wait before retry `attempt` (1-based): a random time up to initialDelay·2^(attempt-1),
 * capped. Full jitter, so that many clients cut at once do not come back in step.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.random() * ceiling);
}

/**
 * Whether a failure may go away by trying again. `signal` is the caller's: a cancel it caused is
 * final, while a Canceled the network caused (an HTTP/2 stream reset by a proxy) is not.
 */
export function isRetryable(err: ConnectError, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  switch (err.code) {
    // The server is away, overloaded, or lost its session lock with its database connection.
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    // Another request still holds the upload session (the server has not yet noticed that the
    // previous connection broke), or an offset precondition failed: ask again and go on.
    case Code.Aborted:
    // Not the caller's cancel (checked above): a stream reset on the way.
    case Code.Canceled:
      return true;
    // A connection cut mid-message surfaces as a protocol error on the client ("premature close",
    // a truncated frame), which Connect reports as Internal or Unknown. A server's own Internal is
    // retried too, a bounded number of times: telling the two apart is not possible from here.
    case Code.Internal:
    case Code.Unknown:
      return true;
    default:
      return false;
  }
}

/** The machine-readable reason the service gave (google.rpc.ErrorInfo), if any. */
export function errorReason(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The committed offset an error carries in its `upload-offset` metadata, if any. */
export function offsetOf(err: ConnectError): number | undefined {
  const value = err.metadata.get("upload-offset");
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The error an aborted transfer ends with: Canceled, with the signal's reason as its cause. */
export function abortedError(signal: AbortSignal): ConnectError {
  return new ConnectError("the transfer was cancelled", Code.Canceled, undefined, undefined, signal.reason);
}

/** Waits `ms`, or rejects with abortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
