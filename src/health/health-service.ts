/**
 * The standard gRPC health service (grpc.health.v1.Health) beside FilesService, for probes, load
 * balancers and clients that follow a server's health. Check answers SERVING or NOT_SERVING from
 * {@link Health}.
 *
 * Watch answers the status at once, then again each time it changes. While at least one Watch is
 * open, one shared poll (a {@link HealthWatch}) asks the same {@link Health} about once a second and
 * hands each answer to every open Watch; with none open, nothing polls. The poll, Check and
 * /healthz share Health's one cached check, so watchers add no load on the database. A name the
 * server does not serve gets SERVICE_UNKNOWN (a message, not an error) and stays open, as the
 * protocol says. A Watch ends when its client cancels it. Two things would otherwise make a stream
 * that never ends a nuisance:
 * - a Watch with nothing new to say repeats its status now and then (the same status again, which
 *   clients take as no change), so that the server's idle timeout, which cuts streams with no
 *   traffic, never cuts it;
 * - at shutdown {@link HealthWatch.close} ends every Watch at once (NOT_SERVING, then UNAVAILABLE),
 *   so that open Watches do not hold a graceful stop for its whole grace period.
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

/** Options of {@link createHealthWatch}. */
export interface HealthWatchOptions {
  /** How often the shared poll asks {@link Health} while a Watch is open. */
  pollMs?: number;
  /**
   * A Watch that has sent nothing for this long sends its status again (0: never). Below the
   * server's idle timeout, so that a quiet Watch is not cut as idle.
   */
  repeatMs?: number;
}

/** What a Watch waits for next: a poll's answer, shutdown, its client gone, or time to repeat. */
type WatchEvent = { serving: boolean } | "closed" | "cancelled" | "quiet";

/** One open Watch, as the shared poll sees it. */
interface Watcher {
  /** The next event; "quiet" once the Watch has sent nothing for `repeatMs`. */
  next(): Promise<WatchEvent>;
  /** The Watch has just sent a message. */
  sent(): void;
  /** Leaves the poll (the Watch has ended). */
  end(): void;
}

/** The shared poll of the open Watch streams, and their end at shutdown. */
export interface HealthWatch {
  /** How many Watch streams are open. */
  readonly watching: number;
  /** Whether the poll runs (it does only while a Watch of a known service is open). */
  readonly polling: boolean;
  /**
   * Joins a Watch that has just answered to the poll, until `end()`. A Watch of a name the server
   * does not serve (`polled` false) only waits for shutdown, its client or time to repeat.
   */
  join(signal: AbortSignal, polled: boolean): Watcher;
  /** Shutdown: every open Watch ends now (NOT_SERVING, then UNAVAILABLE), and so will later ones. */
  close(): void;
}

/** The shared poll of `health` for Watch streams. */
export function createHealthWatch(health: Health, options: HealthWatchOptions = {}): HealthWatch {
  const pollMs = options.pollMs ?? 1000;
  const repeatMs = options.repeatMs ?? 0;
  const open = new Set<() => void>(); // how to wake each open Watch
  const polled = new Set<(serving: boolean) => void>(); // how to hand each one an answer
  let closed = false;
  let polling = false;
  let timer: NodeJS.Timeout | undefined;

  const schedule = () => {
    timer = setTimeout(poll, pollMs);
    timer.unref(); // the open streams keep the process alive, not the poll
  };
  async function poll() {
    timer = undefined;
    const serving = await health.serving().catch(() => false);
    // The last Watch may have ended (or the server begun to stop) while the check ran.
    if (closed || polled.size === 0) {
      polling = false;
      return;
    }
    for (const push of polled) push(serving);
    schedule();
  }

  return {
    get watching() {
      return open.size;
    },
    get polling() {
      return polling;
    },
    join(signal, isPolled) {
      let latest: boolean | undefined;
      let sentAt = Date.now();
      let wakeUp: (() => void) | undefined;
      const wake = () => wakeUp?.();
      const push = (serving: boolean) => {
        latest = serving;
        wake();
      };
      signal.addEventListener("abort", wake);
      open.add(wake);
      if (isPolled) {
        polled.add(push);
        if (!polling && !closed) {
          polling = true;
          schedule();
        }
      }
      const take = (): WatchEvent | undefined => {
        if (signal.aborted) return "cancelled";
        if (closed) return "closed";
        if (latest !== undefined) {
          const serving = latest;
          latest = undefined;
          return { serving };
        }
        if (repeatMs > 0 && Date.now() - sentAt >= repeatMs) return "quiet";
        return undefined;
      };
      return {
        async next() {
          for (;;) {
            const event = take();
            if (event) return event;
            let quiet: NodeJS.Timeout | undefined;
            await new Promise<void>((resolve) => {
              wakeUp = resolve;
              if (repeatMs > 0) quiet = setTimeout(resolve, sentAt + repeatMs - Date.now());
            });
            wakeUp = undefined;
            clearTimeout(quiet);
          }
        },
        sent() {
          sentAt = Date.now();
        },
        end() {
          signal.removeEventListener("abort", wake);
          open.delete(wake);
          if (polled.delete(push) && polled.size === 0 && timer) {
            clearTimeout(timer);
            timer = undefined;
            polling = false;
          }
        },
      };
    },
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      polling = false;
      for (const wake of open) wake();
    },
  };
}

/** The Health implementation over `health`; Watch streams share the poll of `watch`. */
export function createHealthService(
  health: Health,
  watch: HealthWatch = createHealthWatch(health),
): ServiceImpl<typeof HealthService> {
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
    async *watch(req, ctx) {
      const known = knownServices.has(req.service);
      const statusOf = (serving: boolean) => (serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      // The first answer is asked for now; the poll's answers count from here on.
      let sent: ServingStatus = known ? statusOf(await health.serving()) : ServingStatus.SERVICE_UNKNOWN;
      const watcher = watch.join(ctx.signal, known);
      try {
        yield { status: sent };
        watcher.sent();
        for (;;) {
          const event = await watcher.next();
          // Logged as the client's cancel, not as a call that went well.
          if (event === "cancelled") throw new ConnectError("the client cancelled the watch", Code.Canceled);
          if (event === "closed") {
            if (known && sent !== ServingStatus.NOT_SERVING) yield { status: ServingStatus.NOT_SERVING };
            throw new ConnectError("the server is shutting down", Code.Unavailable);
          }
          // A quiet Watch repeats its status; otherwise only a change is news.
          const status: ServingStatus = event === "quiet" ? sent : statusOf(event.serving);
          if (status === sent && event !== "quiet") continue;
          sent = status;
          yield { status };
          watcher.sent();
        }
      } finally {
        watcher.end();
      }
    },
  };
}

/** Adds the Health service to other routes: `routes: withHealth(health, filesRoutes(...), watch)`. */
export function withHealth(
  health: Health,
  routes: (router: ConnectRouter) => void,
  watch: HealthWatch = createHealthWatch(health),
): (router: ConnectRouter) => void {
  return (router) => {
    routes(router);
    router.service(HealthService, createHealthService(health, watch));
  };
}
