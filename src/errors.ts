/**
 * The one place that turns storage, Postgres and filesystem errors into ConnectErrors. Handlers
 * throw ConnectErrors for what the client did wrong and let everything else through to here (as an
 * interceptor), so clients get the right code and a message that says what happened — never SQL
 * text or a filesystem path, which go to the log instead.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import postgres from "postgres";
import { BlobMissingError } from "./store/blob-store.js";
import type { Logger } from "./log.js";
import { errorWithHttpStatus } from "./transcoding/index.js";

// postgres.js's own codes for a connection it could not open or lost.
const connectionCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT"]);
// Socket errors of a database that is down or unreachable.
const socketCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EPIPE", "EAI_AGAIN"]);

/**
 * Whether an error came from the database: a Postgres error response, or postgres.js failing to
 * open or keep a connection. A bare socket errno proves nothing (a client's connection breaks
 * with the same ECONNRESET), so it counts only when postgres.js rejected a query with it, which
 * always attaches the query.
 */
function fromDatabase(err: object, code: string): boolean {
  if (err instanceof postgres.PostgresError || connectionCodes.has(code)) return true;
  return socketCodes.has(code) && "query" in err;
}

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
    const unreachable = connectionCodes.has(code) || socketCodes.has(code) || /^(08|57P0[1-3]|53)/.test(code);
    if (unreachable && fromDatabase(err as object, code)) {
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

/**
 * An interceptor that applies {@link toConnectError} to unary calls and to every streamed message.
 * A call the client cancelled (it went away, or its stream broke off) is routine: one info line
 * naming the RPC, never a warning.
 */
export function errorMapping(log: Logger): Interceptor {
  return (next) => async (req) => {
    const mapped = (err: unknown) => {
      const connectError = toConnectError(err, log);
      if (connectError.code === Code.Canceled) log.info("client went away", { rpc: req.method.name, error: describeCause(connectError) });
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
        thrownIn = err instanceof ConnectError ? err : new ConnectError("the client went away: the response could not be written", Code.Canceled, undefined, undefined, err);
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
