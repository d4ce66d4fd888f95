/**
 * The standard gRPC health service (grpc.health.v1.Health) beside FilesService, for probes and load
 * balancers. Check answers SERVING or NOT_SERVING from {@link Health}. Watch answers UNIMPLEMENTED,
 * which the protocol allows: a stream that never ends would hold a graceful shutdown for its whole
 * grace period and be cut by the idle timeout, and the probes in use (Kubernetes, grpc-health-probe,
 * load balancers) all call Check.
 */
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import {
  Health as HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import type { Health } from "./database-health.js";

// "" asks about the server as a whole; FilesService is the one service it has.
const knownServices = new Set(["", FilesService.typeName]);

/** The Health implementation over `health`. */
export function createHealthService(health: Health): ServiceImpl<typeof HealthService> {
  return {
    async check(req) {
      if (!knownServices.has(req.service)) {
        throw new ConnectError(
          `unknown service "${req.service}": ask about "" or "${FilesService.typeName}"`,
          Code.NotFound,
        );
      }
      return { status: (await health.serving()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING };
    },
    // Not a generator: the call fails before any message.
    watch() {
      throw new ConnectError("Watch is not implemented: call Check", Code.Unimplemented);
    },
  };
}

/** Adds the Health service to other routes: `routes: withHealth(health, filesRoutes(...))`. */
export function withHealth(health: Health, routes: (router: ConnectRouter) => void): (router: ConnectRouter) => void {
  return (router) => {
    routes(router);
    router.service(HealthService, createHealthService(health));
  };
}
