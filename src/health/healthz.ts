/**
 * `GET /healthz` for plain HTTP probes: 200 {"status":"SERVING"} or 503 {"status":"NOT_SERVING"},
 * the same answer the gRPC health service gives. Called first in the RPC handler's fallback.
 */
import type { NodeRequest as Request, NodeResponse as Response } from "../transcoding/index.js";
import type { Health } from "./database-health.js";

/** A handler that answers `GET` and `HEAD /healthz` and returns true, or returns false for anything else. */
export function createHealthzHandler(health: Health): (req: Request, res: Response) => boolean {
  return (req, res) => {
    if ((req.method !== "GET" && req.method !== "HEAD") || (req.url ?? "").split("?")[0] !== "/healthz") return false;
    void health.serving().then((serving) => {
      const body = JSON.stringify({ status: serving ? "SERVING" : "NOT_SERVING" });
      // Probes must see the answer of now, never one a proxy kept.
      res.writeHead(serving ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
      if (req.method === "HEAD") res.end();
      else res.end(body);
    });
    return true;
  };
}
