/**
 * What the resumable-upload protocols (tus, the IETF draft) share around one HTTP request: the
 * request's own session calls, a signal aborted when the client goes away, the HTTP status of an
 * RPC error as the protocol wants it, and the few header formats both use.
 */
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { UploadSession } from "../../gen/files/v1/files_pb.js";
import { kBaseUrl } from "../files/public-urls.js";
import {
  abortResponse,
  type BeforeBodyCheck,
  header,
  type NodeRequest,
  type NodeResponse,
  restError,
} from "../transcoding/index.js";
import { createSessionCalls, type SessionCallOptions, type SessionCalls } from "./session-calls.js";

/** What a protocol handler is built with (app.ts gives the same to each). */
export interface ResumableOptions extends SessionCallOptions {
  /** Context values of a request (its base URL, the protocol it is logged as). */
  contextValues: (req: NodeRequest) => ContextValues;
  /** Runs before a request's body is read (authentication), with the method the request calls. */
  checkBeforeBody?: BeforeBodyCheck;
  /** The largest file a session may declare (advertised to clients). */
  maxFileSize: number;
}

/** One request being served. */
export interface Exchange {
  req: NodeRequest;
  res: NodeResponse;
  calls: SessionCalls;
  /** The service's public base URL as this request reached it (scheme://host[:port]). */
  baseUrl: string;
  header(name: string): string | undefined;
}

/**
 * Serves one request with `serve`; what it throws goes to `fail`, unless the answer went out already
 * (then the response is cut). The calls are aborted when the client goes away before the answer.
 */
export function serveExchange(
  options: ResumableOptions,
  req: NodeRequest,
  res: NodeResponse,
  serve: (exchange: Exchange) => Promise<void>,
  fail: (exchange: Exchange, reason: unknown) => void,
): void {
  const abort = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) abort.abort(new ConnectError("the client went away", Code.Canceled));
  });
  const values = options.contextValues(req);
  const exchange: Exchange = {
    req,
    res,
    calls: createSessionCalls(options, req, values, abort.signal),
    baseUrl: values.get(kBaseUrl),
    header: (name) => header(req, name),
  };
  serve(exchange).catch((reason: unknown) => {
    if (res.headersSent) {
      if (!res.writableEnded) abortResponse(res);
      return;
    }
    fail(exchange, reason);
  });
}

/**
 * The HTTP status of an error: the one `statusForReason` gives its reason, else the one it was made
 * with (errorWithHttpStatus), else its code's.
 */
export function httpStatusOf(err: ConnectError, statusForReason: Readonly<Record<string, number>>): number {
  const reason = err.findDetails(ErrorInfoSchema)[0]?.reason;
  if (reason !== undefined && Object.hasOwn(statusForReason, reason)) return statusForReason[reason];
  return restError(err).status;
}

/** An HTTP date (RFC 9110 IMF-fixdate) of a session's expiry, or undefined for a completed one. */
export function expiresHeader(session: UploadSession): string | undefined {
  return session.complete || session.expiresAt === 0n
    ? undefined
    : new Date(Number(session.expiresAt) * 1000).toUTCString();
}

/** A header holding a non-negative integer (digits only), or undefined when absent; throws if malformed. */
export function lengthHeader(
  exchange: Exchange,
  name: string,
  invalid: (message: string) => Error,
): number | undefined {
  const value = exchange.header(name.toLowerCase());
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim()) || !Number.isSafeInteger(Number(value)))
    throw invalid(`${name} must be a non-negative integer, not ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}
