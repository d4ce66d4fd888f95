/**
 * One log line per call, and a logger per call. The interceptor gives each call a child logger that
 * names the RPC, the protocol the client spoke and a request id (the client's `X-Request-Id` when
 * it sends a sane one), and when the call ends it logs one line: its code, how long it took and
 * how many content bytes it moved. Handlers log through {@link callLog} and count the bytes they
 * move with {@link countBytes}, so that every line of a call can be found by its request id. The
 * same record of each ended call goes to an observer, when one is given (the metrics count it).
 */
import {
  ConnectError,
  createContextKey,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import type { DescMethod } from "@bufbuild/protobuf";
import { randomUUID } from "node:crypto";
import { codeToString } from "../transcoding/connect-internals.js";
import type { Logger } from "../log.js";
import { watchResponseEnd } from "./response-end.js";

/** The protocol a call came in on. */
export type Protocol = "grpc" | "grpc-web" | "connect" | "rest" | "tus" | "resumable-draft";

/** An ended call, as an observer (the metrics) sees it. */
export interface EndedCall {
  method: DescMethod;
  protocol: Protocol;
  /** "ok", or the error's code as Connect names it ("not_found"). */
  code: string;
  seconds: number;
  bytesIn: number;
  bytesOut: number;
}

/** Told of every call when it ends; must not throw, and must be cheap. */
export type CallObserver = (call: EndedCall) => void;

/** What is known of one call while it runs. */
interface CallRecord {
  /** The call's logger, made when first asked for: most calls log nothing but their one line. */
  readonly log: Logger;
  bytesIn: number;
  bytesOut: number;
}

const kCall = createContextKey<CallRecord | undefined>(undefined, { description: "the call's log and counters" });
/** Set by the front door that took the request: the REST transcoder says "rest". */
const kProtocol = createContextKey<Protocol | undefined>(undefined, { description: "protocol of the call" });

/** The call's own logger (the service's logger, outside a call). */
export function callLog(ctx: HandlerContext, fallback: Logger): Logger {
  return callLogIn(ctx.values) ?? fallback;
}

/** The logger of the call these context values belong to, once the interceptor has run. */
export function callLogIn(values: ContextValues): Logger | undefined {
  return values.get(kCall)?.log;
}

/**
 * The one line of a call refused from its headers, before its body was read or the router saw it
 * (so the interceptor never ran): failed authentication is what an operator most wants to see.
 */
export function logRefusedCall(
  log: Logger,
  method: DescMethod,
  protocol: Protocol,
  header: (name: string) => string | undefined,
  err: unknown,
  observe?: CallObserver,
): void {
  const rpc = `${method.parent.typeName}/${method.name}`;
  const code = codeToString(ConnectError.from(err).code);
  observe?.({ method, protocol, code, seconds: 0, bytesIn: 0, bytesOut: 0 });
  log.info("call", {
    rpc,
    protocol,
    requestId: requestIdOf(header("x-request-id")),
    code,
    ms: 0,
    bytesIn: 0,
    bytesOut: 0,
  });
}

/** Counts content bytes the call received ("in") or sent ("out"). */
export function countBytes(ctx: HandlerContext, direction: "in" | "out", bytes: number): void {
  const call = ctx.values.get(kCall);
  if (!call) return;
  if (direction === "in") call.bytesIn += bytes;
  else call.bytesOut += bytes;
}

/** Marks the calls a front door makes as coming over `protocol` (for context values of a request). */
export function withProtocol(values: ContextValues, protocol: Protocol): ContextValues {
  return values.set(kProtocol, protocol);
}

/**
 * The interceptor that gives each call its logger and logs its one line when it ends (and tells
 * `observe` of it).
 */
export function callLogging(log: Logger, observe?: CallObserver): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const protocol = callProtocol(req.contextValues, req.header);
    const fields = {
      rpc: `${req.service.typeName}/${req.method.name}`,
      protocol,
      requestId: requestIdOf(req.header.get("x-request-id")),
    };
    // A pino child logger per call cost more than the call's own line; it is made only for calls
    // that log something else.
    let child: Logger | undefined;
    const call: CallRecord = {
      get log() {
        child ??= log.child(fields);
        return child;
      },
      bytesIn: 0,
      bytesOut: 0,
    };
    req.contextValues.set(kCall, call);
    let logged = false;
    const ended = (err?: unknown) => {
      if (logged) return;
      logged = true;
      const code = err === undefined ? "ok" : codeToString(ConnectError.from(err).code);
      const elapsed = performance.now() - started;
      const { bytesIn, bytesOut } = call;
      log.info("call", { ...fields, code, ms: Math.round(elapsed * 10) / 10, bytesIn, bytesOut });
      observe?.({ method: req.method, protocol, code, seconds: elapsed / 1000, bytesIn, bytesOut });
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        ended();
        return res;
      }
      return { ...res, message: watchResponseEnd(res.message, req.method, ended) };
    } catch (err) {
      ended(err);
      throw err;
    }
  };
}

/** The protocol of a call: the one its front door named, else the one its content type says. */
export function callProtocol(values: ContextValues, header: Headers): Protocol {
  return values.get(kProtocol) ?? protocolOf(header.get("content-type") ?? "");
}

/** The protocol a request's content type says it speaks. */
export function protocolOf(contentType: string): Protocol {
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

/** The client's request id when it is a sane one (it goes into every line), else a new one. */
function requestIdOf(given: string | null | undefined): string {
  return given && /^[\w.:@/+=-]{1,128}$/.test(given) ? given : randomUUID();
}
