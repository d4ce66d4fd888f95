/**
 * The one place that turns storage, Postgres and filesystem errors into ConnectErrors. Handlers
 * throw ConnectErrors for what the client did wrong and let everything else through to here (as an
 * interceptor), so clients get the right code and a message that says what happened — never SQL
 * text or a filesystem path, which go to the log instead.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BlobMissingError } from "./store/blob-store.js";
import type { Logger } from "./log.js";
import { errorWithHttpStatus } from "./transcoding/index.js";

// postgres.js's own codes for a connection it could not open or lost.
const connectionCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);
// Socket errors of a database that is down or unreachable.
const socketCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EPIPE", "EAI_AGAIN"]);

/** Whether a ConnectError's message says a request message did not parse (Connect calls that INTERNAL). */
export function isParseError(message: string): boolean {
  return /^parse (binary|JSON)/.test(message);
}

/** What a client is told when its request message did not parse. */
export function parseErrorMessage(message: string): string {
  return `a request message does not parse: ${message}`;
}

/** Maps any error to the ConnectError a client should see; logs what the client must not see. */
export function toConnectError(err: unknown, log: Logger): ConnectError {
  if (err instanceof ConnectError) {
    // A streamed request message that does not parse: Connect calls it INTERNAL, but the
    // client sent it (see rpc-handler.ts for the unary case).
    if (err.code === Code.Internal && isParseError(err.rawMessage)) {
      return new ConnectError(parseErrorMessage(err.rawMessage), Code.InvalidArgument, undefined, undefined, err);
    }
    return err;
  }
  if (err instanceof BlobMissingError) {
    // Content that a row promises is gone: a lost file, not a client mistake.
    log.error("content missing", { error: err.message });
    return new ConnectError(err.message, Code.DataLoss, undefined, undefined, err);
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") {
    // Postgres unreachable, restarting or out of connections: retrying later will work.
    if (connectionCodes.has(code) || socketCodes.has(code) || /^(08|57P0[1-3]|53)/.test(code)) {
      log.warn("database unavailable", { code, error: String(err) });
      return new ConnectError("metadata store unavailable; retry shortly", Code.Unavailable, undefined, undefined, err);
    }
    // statement_timeout (or an operator) cancelled the query: most likely it waited on a lock
    // that a stuck transaction holds. Nothing of it was committed; a retry may well work.
    if (code === "57014") {
      log.warn("database query cancelled", { code, error: String(err) });
      return new ConnectError("a metadata query took too long and was cancelled; retry shortly", Code.Unavailable, undefined, undefined, err);
    }
    // Serialisation failure or deadlock: the transaction can simply be retried.
    if (code === "40001" || code === "40P01") {
      return new ConnectError("concurrent update; retry", Code.Aborted, undefined, undefined, err);
    }
    // The disk is full or over quota: nothing was committed, retry after space is freed.
    if (code === "ENOSPC" || code === "EDQUOT") {
      log.error("blob storage full", { code, error: String(err) });
      return errorWithHttpStatus("storage is full; nothing past the committed offset was kept", Code.ResourceExhausted, 507, err);
    }
    // The disk failed or went read-only, or the process ran out of file handles.
    if (code === "EIO" || code === "EROFS" || code === "EMFILE" || code === "ENFILE" || code === "ESTALE") {
      log.error("blob storage unavailable", { code, error: String(err) });
      return new ConnectError("content storage unavailable; nothing past the committed offset was kept", Code.Unavailable, undefined, undefined, err);
    }
  }
  // Anything else is a bug: the details stay in the log.
  log.error("internal error", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** An interceptor that applies {@link toConnectError} to unary calls and to every streamed message. */
export function errorMapping(log: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: mapStream(res.message, log) };
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}

async function* mapStream<T>(messages: AsyncIterable<T>, log: Logger): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err, log);
  }
}
