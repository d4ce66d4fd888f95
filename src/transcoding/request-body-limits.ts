/**
 * Limits on how fast a request body arrives, for the bodies a server reads (REST and RPC alike).
 *
 * - A body that is read whole before the call can begin (unary and server-streaming requests, REST
 *   JSON) must arrive completely within a time limit. The idle timeout alone would let a client
 *   hold a connection, and a read buffer, forever by sending a byte now and then.
 * - A streamed body (an upload) may run for hours, so it gets no time limit; it may instead be held
 *   to a minimum average rate. The rate counts only the time the server waited for the client, so
 *   a server that is slow to take the bytes (a slow disk) never makes a client look slow.
 *
 * Both cut a body with DEADLINE_EXCEEDED (HTTP 408 for REST). What arrived before the cut is handed
 * on first, so an upload keeps it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** The ErrorInfo reason of a body cut for its pace (REST answers it 408, see transcoder.ts). */
export const requestBodyTimeoutReason = "REQUEST_BODY_TIMEOUT";

/**
 * The body, cut with DEADLINE_EXCEEDED unless its end has arrived `timeoutMs` after this call.
 * Once late, the source is no longer read but left open, so that the error can still be answered
 * (destroying an unfinished HTTP/1.1 request destroys its socket); the caller closes the
 * connection after answering.
 */
export function bodyWithinTime<T>(body: AsyncIterable<T>, timeoutMs: number): AsyncIterable<T> {
  const deadline = Date.now() + timeoutMs;
  return {
    async *[Symbol.asyncIterator]() {
      const source = body[Symbol.asyncIterator]();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(bodyTooSlow(`the request body did not arrive within ${timeoutMs / 1000} s`)),
          Math.max(0, deadline - Date.now()),
        );
      });
      let cut = false;
      try {
        for (;;) {
          let next: IteratorResult<T>;
          try {
            next = await Promise.race([source.next(), late]);
          } catch (err) {
            cut = true;
            throw err;
          }
          if (next.done) return;
          yield next.value;
        }
      } finally {
        clearTimeout(timer);
        late.catch(() => undefined);
        if (!cut) await source.return?.();
      }
    },
  };
}

/** A minimum average rate of a streamed body. */
export interface MinimumRate {
  bytesPerSecond: number;
  /** The rate is checked over each window of this many milliseconds spent waiting for the client. */
  windowMs: number;
}

/**
 * The body, cut with DEADLINE_EXCEEDED once a window of waiting for the client brought fewer bytes
 * than the minimum rate asks. It is checked as chunks arrive: a client that sends nothing at all
 * is the idle timeout's to cut.
 */
export async function* bodyAtMinimumRate(
  body: AsyncIterable<Uint8Array>,
  rate: MinimumRate,
): AsyncGenerator<Uint8Array> {
  const source = body[Symbol.asyncIterator]();
  const required = (rate.bytesPerSecond * rate.windowMs) / 1000;
  let waitedMs = 0;
  let bytes = 0;
  let cut = false;
  try {
    for (;;) {
      const waitFrom = performance.now();
      const next = await source.next();
      if (next.done) return;
      waitedMs += performance.now() - waitFrom;
      bytes += next.value.byteLength;
      if (waitedMs >= rate.windowMs) {
        if (bytes < required) {
          // The chunk in hand goes on before the cut: everything that arrived is kept.
          yield next.value;
          cut = true;
          throw bodyTooSlow(
            `the request body arrived at ${Math.floor(bytes / (waitedMs / 1000))} bytes/s, below the minimum of ${rate.bytesPerSecond} bytes/s; what arrived is kept`,
          );
        }
        waitedMs = 0;
        bytes = 0;
      }
      yield next.value;
    }
  } finally {
    // Once cut, the source is left as it is, for the same reason as in bodyWithinTime.
    if (!cut) await source.return?.();
  }
}

function bodyTooSlow(message: string): ConnectError {
  // A standard detail, not an HTTP status: RPC clients get this error too.
  return new ConnectError(message, Code.DeadlineExceeded, undefined, [
    { desc: ErrorInfoSchema, value: { reason: requestBodyTimeoutReason, domain: "http" } },
  ]);
}

/** The limits a server puts on request bodies. */
export interface RequestBodyLimits {
  /** A body read whole must have arrived within this many milliseconds of its request's start. */
  wholeBodyTimeoutMs: number;
  /** A streamed body's minimum rate; undefined: none (the idle timeout still applies). */
  streamMinimumRate?: MinimumRate;
}

/**
 * The body with the limits that fit how it is read: `whole` for a body read to its end before the
 * call begins, `streamed` for a body the call consumes as it arrives (client-streaming methods).
 */
export function limitRequestBody(
  body: AsyncIterable<Uint8Array>,
  read: "whole" | "streamed",
  limits: RequestBodyLimits,
): AsyncIterable<Uint8Array> {
  if (read === "whole") return bodyWithinTime(body, limits.wholeBodyTimeoutMs);
  return limits.streamMinimumRate ? bodyAtMinimumRate(body, limits.streamMinimumRate) : body;
}
