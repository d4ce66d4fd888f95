/**
 * One log line per call, and a logger per call. The interceptor gives each call a child logger that
 * names the RPC, the protocol the client spoke and a request id (the client's `X-Request-Id` when
 * it sends a sane one), and when the call ends it logs one line: its code, how long it took and
 * how many content bytes it moved. Handlers log through {@link callLog} and count the bytes they
 * move with {@link countBytes}, so that every line of a call can be found by its request id.
 */
import {
  Code,
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

/** The protocol a call came in on. */
export type Protocol = "grpc" | "grpc-web" | "connect" | "rest" | "tus" | "resumable-draft";

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
): void {
  const rpc = `${method.parent.typeName}/${method.name}`;
  const code = codeToString(ConnectError.from(err).code);
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

/** The interceptor that gives each call its logger and logs its one line when it ends. */
export function callLogging(log: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const protocol = req.contextValues.get(kProtocol) ?? protocolOf(req.header.get("content-type") ?? "");
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
      const ms = Math.round((performance.now() - started) * 10) / 10;
      log.info("call", { ...fields, code, ms, bytesIn: call.bytesIn, bytesOut: call.bytesOut });
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        ended();
        return res;
      }
      return { ...res, message: loggedWhenDone(res.message, ended) };
    } catch (err) {
      ended(err);
      throw err;
    }
  };
}

async function* loggedWhenDone<T>(messages: AsyncIterable<T>, ended: (err?: unknown) => void): AsyncIterable<T> {
  try {
    yield* messages;
    ended();
  } catch (err) {
    ended(err);
    throw err;
  } finally {
    // Stopped by the consumer (the client went away while we were sending).
    ended(new ConnectError("the response was cut off", Code.Canceled));
  }
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
