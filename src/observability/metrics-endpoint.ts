/**
 * `GET /metrics`: the service's metrics in Prometheus's text format, on the main port (called in
 * the RPC handler's fallback, before the REST routes) or on a port of its own. With API keys on,
 * a scrape needs one, as every other route does, unless the operator opened it (METRICS_OPEN).
 */
import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "../log.js";
import { type NodeRequest as Request, type NodeResponse as Response, restError } from "../transcoding/index.js";
import { createServer, type Server, type ServerOptions } from "../rpc/server.js";
import type { Metrics } from "./metrics.js";

/** What the handler needs. */
export interface MetricsEndpointOptions {
  metrics: Metrics;
  /** Throws (UNAUTHENTICATED) unless the Authorization header may scrape; absent: anyone may. */
  authenticate?: (authorization: string | undefined) => void;
  log: Logger;
}

/** A handler that answers `GET` and `HEAD /metrics` and returns true, or returns false for anything else. */
export function createMetricsHandler(options: MetricsEndpointOptions): (req: Request, res: Response) => boolean {
  const { metrics, authenticate, log } = options;
  return (req, res) => {
    if ((req.method !== "GET" && req.method !== "HEAD") || (req.url ?? "").split("?")[0] !== "/metrics") return false;
    try {
      authenticate?.(req.headers.authorization);
    } catch (reason) {
      // Answered as the REST routes answer a refused key: the same status and JSON body.
      const err = ConnectError.from(reason);
      const { status, body } = restError(err);
      log.info("metrics scrape refused", { code: body.code });
      const headers: Record<string, string> = { "content-type": "application/json" };
      const challenge = err.metadata.get("www-authenticate");
      if (challenge) headers["www-authenticate"] = challenge;
      res.writeHead(status, headers);
      res.end(JSON.stringify(body));
      return true;
    }
    metrics.registry.metrics().then(
      (text) => {
        // Every scrape must see the values of now, never ones a proxy kept.
        res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
        if (req.method === "HEAD") res.end();
        else res.end(text);
      },
      (err: unknown) => {
        log.error("metrics could not be collected", { err });
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("metrics could not be collected\n");
      },
    );
    return true;
  };
}

/** A server of its own (METRICS_PORT) that serves `route` (the /metrics handler) and nothing else. */
export function serveMetricsAlone(
  route: (req: Request, res: Response) => boolean,
  options: Omit<ServerOptions, "handler">,
): Server {
  return createServer({
    ...options,
    handler: (req, res) => {
      if (route(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("only /metrics is served here\n");
    },
  });
}
