/**
 * Whether the service can serve: it can while its database answers. Probes may call this as often
 * as they like; at most one cheap `select 1` runs at a time, and its answer is reused for a second,
 * so probes cannot load the database.
 */
import type { Logger } from "../log.js";
import type { Sql } from "../store/postgres/database.js";

/** The service's health, as probes see it. */
export interface Health {
  /** True while the database answered its last check in time. Never rejects. */
  serving(): Promise<boolean>;
}

/** Options of {@link createDatabaseHealth}. */
export interface DatabaseHealthOptions {
  /** A check that takes longer than this counts as "not answering". */
  timeoutMs?: number;
  /** How long an answer is reused. */
  cacheMs?: number;
}

/** Health from `select 1` on the service's own pool: it fails exactly when the handlers would. */
export function createDatabaseHealth(sql: Sql, log: Logger, options: DatabaseHealthOptions = {}): Health {
  const timeoutMs = options.timeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 1000;
  let last: { serving: boolean; at: number } | undefined;
  let running: Promise<boolean> | undefined;

  async function check(): Promise<boolean> {
    const query = sql`select 1`;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: "HEALTH_TIMEOUT" })),
        timeoutMs,
      );
    });
    try {
      await Promise.race([query, timedOut]);
      return true;
    } catch (err) {
      query.cancel(); // a query still waiting for a connection must not pile up behind the outage
      query.catch(() => undefined);
      if (last?.serving !== false)
        log.warn("health: the database does not answer", { code: (err as { code?: unknown }).code, err: err });
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    serving() {
      if (last && Date.now() - last.at < cacheMs) return Promise.resolve(last.serving);
      running ??= check().then((serving) => {
        if (serving && last?.serving === false) log.info("health: the database answers again");
        last = { serving, at: Date.now() };
        running = undefined;
        return serving;
      });
      return running;
    },
  };
}
