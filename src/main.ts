/**
 * Entry point: configuration → service → listen. SIGTERM or SIGINT (Ctrl-C) stops it gracefully
 * (in-flight uploads finish or commit what they received, then the database closes) and exits 0;
 * a second one while that stop waits forces the exit.
 */
import { constants } from "node:os";
import { startApp, type App } from "./app.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { portInUse } from "./rpc/port-in-use.js";
import { startTracingSdk, type TracingSdk } from "./observability/tracing-sdk.js";

const config = (() => {
  try {
    return loadConfig();
  } catch (err) {
    createLogger().error(`configuration: ${(err as Error).message}`);
    process.exit(2);
  }
})();
const log = createLogger({ level: config.logLevel });

// Under `npm start` one Ctrl-C can reach the server twice within milliseconds: the terminal
// signals the whole foreground process group, and npm forwards SIGINT and SIGTERM to its child
// (the server itself where the script shell execs it, as bash does). Only a signal this long
// after the first is a second press.
const samePressMs = 1_000;
let app: App | undefined;
let tracing: TracingSdk | undefined;
let firstSignalAt: number | undefined;

const exitCodeFor = (signal: NodeJS.Signals) => 128 + constants.signals[signal];

function onSignal(signal: NodeJS.Signals): void {
  if (app === undefined) {
    // Still starting: nothing is in flight. Exiting runs the embedded Postgres's exit hook, which
    // stops it if it was started already.
    log.warn("interrupted while starting", { signal });
    process.exit(exitCodeFor(signal));
  }
  if (firstSignalAt === undefined) {
    firstSignalAt = performance.now();
    void stopGracefully(app, signal);
  } else if (performance.now() - firstSignalAt >= samePressMs) {
    // The embedded Postgres gets its fast shutdown from its exit hook on the way out.
    log.warn("forced exit: a second signal cut the graceful stop short", { signal });
    process.exit(exitCodeFor(signal));
  }
}

async function stopGracefully(running: App, signal: NodeJS.Signals): Promise<void> {
  log.info("shutting down", { signal, graceSeconds: config.shutdownGraceSeconds });
  await running.close();
  // The last spans (those of the requests the stop waited for) go out before the exit.
  await tracing?.shutdown().catch((err: unknown) => log.warn("tracing: spans not sent at shutdown", { err }));
  log.info("stopped");
  process.exit(0);
}

process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
try {
  // Before the embedded Postgres takes its seconds to start, for a start that would fail anyway.
  if (config.port !== 0 && (await portInUse(config.port, config.host))) {
    throw new Error(
      `port ${config.port} on ${config.host} is already in use by another process: stop it, or choose another port with PORT or --port`,
    );
  }
  // Before the service is built, so that its first spans (the migrations' queries) are recorded.
  tracing = await startTracingSdk(process.env, log);
  app = await startApp(config, log);
} catch (err) {
  log.error("could not start", { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
