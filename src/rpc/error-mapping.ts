/**
 * The one place that turns errors into the ConnectErrors clients see. Handlers throw ConnectErrors
 * for what the client did wrong and let everything else through to here (as an interceptor): the
 * stores' own classifications of their failures (store-failures.ts) and their typed errors become
 * the right code and a message that says what happened — never SQL text or a filesystem path,
 * which go to the log instead.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { isUnparsableBinaryMessage, unparsableMessageText } from "../transcoding/connect-internals.js";
import { BlobMissingError } from "../store/blobs/blob-store.js";
import type { StoreFailure, StoreFailureClassifier } from "../store/store-failures.js";
import type { Logger } from "../log.js";
import { callLogIn } from "./call-log.js";
import { ErrorReason, errorWithReason } from "../files/error-reasons.js";

/**
 * Maps any error to the ConnectError a client should see; logs what the client must not see. The
 * stores' `classifiers` say which errors are their failures, and of what kind.
 */
export function toConnectError(
  err: unknown,
  log: Logger,
  classifiers: readonly StoreFailureClassifier[],
): ConnectError {
  if (err instanceof ConnectError) {
    // A streamed request message that does not parse: Connect calls it INTERNAL, but the
    // client sent it (see rpc-handler.ts for the unary case).
    if (err.code === Code.Internal && isUnparsableBinaryMessage(err.rawMessage)) {
      return new ConnectError(unparsableMessageText(err.rawMessage), Code.InvalidArgument, undefined, undefined, err);
    }
    return err;
  }
  if (err instanceof BlobMissingError) {
    // Content that a row promises is gone: a lost file, not a client mistake.
    log.error("content missing", { err });
    return new ConnectError(err.message, Code.DataLoss, undefined, undefined, err);
  }
  for (const classify of classifiers) {
    const failure = classify(err);
    if (failure) return storeFailure(failure, err, log);
  }
  // Anything else is a bug: the details stay in the log.
  log.error("internal error", { err });
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** What a client is told of a store's failure; what it does not see goes to the log. */
function storeFailure(failure: StoreFailure, err: unknown, log: Logger): ConnectError {
  const fields = { code: failure.code, err };
  const connectError = (message: string, code: Code) => new ConnectError(message, code, undefined, undefined, err);
  switch (failure.kind) {
    case "unavailable":
      if (failure.store === "metadata") {
        log.warn("database unavailable", fields);
        return connectError("metadata store unavailable; retry shortly", Code.Unavailable);
      }
      log.error("blob storage unavailable", fields);
      return connectError("content storage unavailable; nothing past the committed offset was kept", Code.Unavailable);
    case "timed-out":
      // Most likely it waited on a lock that a stuck transaction holds; nothing of it was committed.
      log.warn("database query cancelled", fields);
      return connectError(`a ${failure.store} query took too long and was cancelled; retry shortly`, Code.Unavailable);
    case "conflict":
      return connectError("concurrent update; retry", Code.Aborted);
    case "full":
      log.error(`${failure.store === "content" ? "blob" : "metadata"} storage full`, fields);
      return errorWithReason(
        "storage is full; nothing past the committed offset was kept",
        Code.ResourceExhausted,
        ErrorReason.STORAGE_FULL,
        err,
      );
  }
}

/**
 * An interceptor that applies {@link toConnectError} to unary calls and to every streamed message.
 * A call the client cancelled (it went away, or its stream broke off) is routine: one info line
 * naming the RPC, never a warning.
 */
export function errorMapping(log: Logger, classifiers: readonly StoreFailureClassifier[]): Interceptor {
  return (next) => async (req) => {
    // The call's own logger (its RPC and request id), which the call-log interceptor set.
    const callLog = callLogIn(req.contextValues) ?? log;
    const mapped = (err: unknown) => {
      const connectError = toConnectError(err, callLog, classifiers);
      if (connectError.code === Code.Canceled) callLog.info("client went away", { error: describeCause(connectError) });
      return connectError;
    };
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: mapStream(res.message, mapped) };
    } catch (err) {
      throw mapped(err);
    }
  };
}

/**
 * The response messages, with the handler's errors mapped. What the consumer throws in is passed
 * on to the handler (as `yield*` would): connect-node throws in the error of a response it could
 * not write, which means the client went away (an HTTP/2 stream it reset, a closed connection).
 * That is said as such, CANCELED with the socket error as its cause, before anyone reads it as a
 * server fault. Connect's own errors (a message too large to send) pass as they are.
 */
async function* mapStream<T>(messages: AsyncIterable<T>, mapped: (err: unknown) => ConnectError): AsyncIterable<T> {
  const it = messages[Symbol.asyncIterator]();
  let thrownIn: ConnectError | undefined;
  let finished = false;
  try {
    for (;;) {
      let next: IteratorResult<T>;
      try {
        next = thrownIn ? await (it.throw?.(thrownIn) ?? Promise.reject(thrownIn)) : await it.next();
      } catch (err) {
        finished = true;
        throw mapped(err);
      }
      if (next.done) {
        finished = true;
        return;
      }
      thrownIn = undefined;
      try {
        yield next.value;
      } catch (err) {
        thrownIn =
          err instanceof ConnectError
            ? err
            : new ConnectError(
                "the client went away: the response could not be written",
                Code.Canceled,
                undefined,
                undefined,
                err,
              );
      }
    }
  } finally {
    // The consumer stopped early: the handler stops too.
    if (!finished) await it.return?.();
  }
}

/** The error's message, and its cause's (a socket error says how the connection ended). */
function describeCause(err: ConnectError): string {
  // Not `instanceof Error`: errors from Node's core may come from another realm (a test's VM).
  const cause = (err.cause as { message?: unknown } | undefined)?.message;
  return typeof cause === "string" && err.cause !== err ? `${err.rawMessage} (${cause})` : err.rawMessage;
}
