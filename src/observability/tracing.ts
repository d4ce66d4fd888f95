/**
 * OpenTelemetry tracing through the API alone: a server span per RPC (with the `rpc.*` attributes,
 * its parent taken from the request's `traceparent`), and {@link inSpan} for the steps worth a
 * child span. Nothing here starts an SDK (tracing-sdk.ts does, when configured): with none
 * registered every call below is one of the API's no-ops.
 */
import {
  type Attributes,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { callProtocol, type Protocol } from "../rpc/call-log.js";
import { watchResponseEnd } from "../rpc/response-end.js";
import { codeToString } from "../transcoding/connect-internals.js";

/** The service's tracer (the API's no-op one until an SDK is registered). */
export const tracer = trace.getTracer("files-service");

// Codes that say the server failed, as OpenTelemetry's gRPC conventions count them; the others
// are the client's (not found, invalid argument, …) and leave the server span's status unset.
const serverFaults = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * Runs `step` in a child span of the current one, named `name`: the span ends with the step, and
 * records its failure.
 */
export function inSpan<T>(name: string, attributes: Attributes, step: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      const result = await step();
      span.end();
      return result;
    } catch (err) {
      endWithError(span, err);
      throw err;
    }
  });
}

/**
 * The interceptor that gives each call a server span, the child of the span its `traceparent`
 * names, and runs the call (its response stream included) inside it. It must run outside the
 * error mapping, to see the code the client gets.
 */
export function rpcTracing(): Interceptor {
  return (next) => async (req) => {
    const parent = propagation.extract(context.active(), req.header, headerGetter);
    const protocol = callProtocol(req.contextValues, req.header);
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": rpcSystem(protocol),
          "rpc.service": req.service.typeName,
          "rpc.method": req.method.name,
          "files.protocol": protocol,
        },
      },
      parent,
    );
    const inCall = trace.setSpan(parent, span);
    let ended = false;
    const end = (err?: unknown) => {
      if (ended) return;
      ended = true;
      const code: number = err === undefined ? 0 : ConnectError.from(err).code; // 0 is gRPC's OK
      span.setAttribute("rpc.grpc.status_code", code);
      if (err === undefined) {
        span.end();
        return;
      }
      if (protocol === "connect") span.setAttribute("rpc.connect_rpc.error_code", codeToString(code as Code));
      if (serverFaults.has(code)) endWithError(span, err);
      else span.end();
    };
    try {
      const res = await context.with(inCall, () => next(req));
      if (!res.stream) {
        end();
        return res;
      }
      return { ...res, message: watchResponseEnd(res.message, req.method, end, (next) => context.bind(inCall, next)) };
    } catch (err) {
      end(err);
      throw err;
    }
  };
}

function rpcSystem(protocol: Protocol): string {
  return protocol === "grpc" || protocol === "grpc-web" ? "grpc" : "connect_rpc";
}

function endWithError(span: Span, err: unknown): void {
  if (span.isRecording()) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}
