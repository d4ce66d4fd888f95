/**
 * A Connect Transport that calls RPC handlers in this process, through the very universal handlers
 * a network request reaches, so that every interceptor (error mapping, drain, auth) applies to
 * REST calls too. Messages cross in the Connect protocol's binary form. Unlike Connect's own
 * createRouterTransport, it hands the HTTP request's context values (such as the public base URL
 * derived from its Host) to the handlers.
 */
import { Code, ConnectError, type ContextValues, type Transport } from "@connectrpc/connect";
import {
  createAsyncIterable,
  createConnectTransportFromClient,
  type UniversalClientFn,
  type UniversalHandler,
} from "./connect-internals.js";

/** Makes a transport for one HTTP request, carrying its context values. */
export type InProcessTransports = (contextValues: ContextValues | undefined) => Transport;

const origin = "http://in-process";

/** Transports over the given handlers (a ConnectRouter's `handlers`). */
export function createInProcessTransports(handlers: readonly UniversalHandler[]): InProcessTransports {
  const byPath = new Map(handlers.map((h) => [h.requestPath, h]));
  return (contextValues) => {
    const httpClient: UniversalClientFn = async (req) => {
      const path = new URL(req.url).pathname;
      const handler = byPath.get(path);
      if (!handler) throw new ConnectError(`no handler for ${path}`, Code.Unimplemented);
      const signal = req.signal ?? new AbortController().signal;
      const res = await handler({
        httpVersion: "2.0",
        method: req.method,
        url: req.url,
        header: req.header,
        body: req.body ?? createAsyncIterable<Uint8Array>([]),
        signal,
        contextValues,
      });
      // The transport's own message iterator can't be returned early, so a call given up on (its
      // signal aborted) ends the handler's response stream here: the handler's generator finishes.
      const body = (res.body ?? createAsyncIterable<Uint8Array>([]))[Symbol.asyncIterator]();
      const stop = () => void body.return?.().catch(() => undefined);
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
      return {
        status: res.status,
        header: new Headers(res.header),
        body: { [Symbol.asyncIterator]: () => body },
        trailer: new Headers(res.trailer),
      };
    };
    return createConnectTransportFromClient({
      httpClient,
      baseUrl: origin,
      useBinaryFormat: true,
      interceptors: [],
      acceptCompression: [],
      sendCompression: null,
      // The handlers enforce their own limits; this side only relays.
      compressMinBytes: Number.MAX_SAFE_INTEGER,
      readMaxBytes: Number.MAX_SAFE_INTEGER,
      writeMaxBytes: Number.MAX_SAFE_INTEGER,
    });
  };
}
