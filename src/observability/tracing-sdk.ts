/**
 * Starts the OpenTelemetry SDK when, and only when, the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: spans then go to that collector by OTLP over HTTP,
 * in batches. The SDK's packages are imported only then, so a server without a collector loads
 * none of them and its spans stay the API's no-ops. The exporter and sampler read the other
 * standard variables themselves (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …).
 */
import type { Logger } from "../log.js";

/** A started SDK: `shutdown` sends the spans not yet sent and stops. */
export interface TracingSdk {
  shutdown(): Promise<void>;
}

/** The SDK, started and registered as the API's provider, or undefined when no endpoint is set. */
export async function startTracingSdk(env: NodeJS.ProcessEnv, log: Logger): Promise<TracingSdk | undefined> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === "true") return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our name for the service.
  const resource = resources
    .resourceFromAttributes({ "service.name": "files-service" })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // Also installs the W3C trace-context propagator (traceparent) and the async context manager.
  provider.register();
  log.info("tracing: spans go by OTLP/HTTP", { endpoint: safeEndpoint(endpoint) });
  return { shutdown: () => provider.shutdown() };
}

/** The endpoint without a user or password it might carry, for the log. */
function safeEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return "(not a URL)";
  }
}
