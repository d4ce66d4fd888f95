/**
 * The router's method implementations, callable in this process with messages as objects: a REST
 * request becomes a request message and goes straight to the implementation, through the same
 * interceptors a network call passes (error mapping, drain, auth), with no protobuf encoding,
 * envelope or decoding in between. A download's bytes, or an upload's, are handed on as they are:
 * going through Connect's wire format in process cost two to three copies of every chunk and most
 * of the CPU of a REST download.
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import {
  type ConnectRouter,
  type ContextValues,
  createHandlerContext,
  createMethodImplSpec,
  createServiceImplSpec,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import { transformInvokeImplementation } from "./connect-internals.js";

/** What one in-process call is made with (what a network request would carry). */
export interface InProcessCallInit {
  /** Headers handed to the method as its request headers (authorization and the like). */
  header: Headers;
  /** Aborted when the caller gives up: the method sees its context's signal aborted. */
  signal: AbortSignal;
  contextValues?: ContextValues;
  /** The HTTP method and URL of the request that led to the call. */
  requestMethod: string;
  url: string;
}

/** One method, callable in process. */
export interface InProcessMethod {
  readonly method: DescMethod;
  /**
   * Runs the method on `input` (one message for unary and server-streaming methods) and answers
   * its output messages. Returning from the output early (`return()`) ends the method's stream.
   */
  call(input: AsyncIterable<Message>, init: InProcessCallInit): AsyncIterable<Message>;
}

/** The name the methods' contexts give their protocol. */
const protocolName = "rest";

/**
 * Registers `routes` on `router`, as usual, and answers the same implementations as in-process
 * methods. `interceptors` must be the router's own (ConnectRouterOptions are not readable back);
 * a service registered with interceptors of its own uses those, as in the router.
 */
export function routeInProcess(
  router: ConnectRouter,
  routes: (router: ConnectRouter) => void,
  interceptors: readonly Interceptor[] = [],
): InProcessMethod[] {
  const methods: InProcessMethod[] = [];
  const add = (spec: MethodImplSpec, own: Interceptor[] | undefined) =>
    methods.push(inProcessMethod(spec, own ?? [...interceptors]));
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      router.service(service, implementation, options);
      const spec = createServiceImplSpec(service, implementation);
      for (const method of Object.values(spec.methods)) add(method, options?.interceptors);
      return recording;
    },
    rpc(method, implementation, options) {
      router.rpc(method, implementation, options);
      add(createMethodImplSpec(method, implementation) as MethodImplSpec, options?.interceptors);
      return recording;
    },
  };
  routes(recording);
  return methods;
}

function inProcessMethod(spec: MethodImplSpec, interceptors: Interceptor[]): InProcessMethod {
  return {
    method: spec.method,
    call(input, init) {
      const context = createHandlerContext({
        service: spec.method.parent,
        method: spec.method,
        protocolName,
        requestMethod: init.requestMethod,
        url: init.url,
        requestHeader: init.header,
        requestSignal: init.signal,
        contextValues: init.contextValues,
      });
      return transformInvokeImplementation(spec, context, interceptors)(input) as AsyncIterable<Message>;
    },
  };
}
