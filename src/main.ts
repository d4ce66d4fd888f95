/**
 * Entry point: configuration → service → listen; SIGTERM/SIGINT shut it down gracefully
 * (in-flight uploads commit what they received, then the database closes) and exit 0.
 */
import { startApp } from "./app.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { portInUse } from "./port-in-use.js";

const log = createLogger();
let config;
try {
  config = loadConfig();
} catch (err) {
  log.error(`configuration: ${(err as Error).message}`);
  process.exit(2);
}

try {
  // Before the embedded Postgres takes its seconds to start, for a start that would fail anyway.
  if (config.port !== 0 && (await portInUse(config.port, config.host))) {
    throw new Error(`port ${config.port} on ${config.host} is already in use by another process: stop it, or choose another port with PORT or --port`);
  }
  const app = await startApp(config, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal, graceSeconds: config.shutdownGraceSeconds });
    await app.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
} catch (err) {
  log.error("could not start", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
