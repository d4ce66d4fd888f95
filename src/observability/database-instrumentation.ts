/**
 * Metrics and trace spans for the metadata pool, from outside the store: the pool handed to the
 * rest of the service is the same postgres.js pool behind a Proxy that times each query (from
 * being handed to the pool to its answer) and gives it a client span, and gives each transaction
 * a span its queries are children of. The store's query functions know nothing of it.
 *
 * postgres.js has no public hooks and does not show its pool's queues. A query is lazy: it runs
 * when first awaited, by calling its `handler` with itself once, and a connection sets its
 * `statement` when it takes it. So the Proxy wraps each query's handler, and a query in flight
 * whose statement is still null waits for a connection. (test/contract/ holds these internals.)
 */
import { type Span, SpanKind, SpanStatusCode, context } from "@opentelemetry/api";
import type { Sql } from "../store/postgres/database.js";
import { tracer } from "./tracing.js";

/** What the instrumentation reports to (the metrics). */
export interface DatabaseObserver {
  /** A query ended after `seconds`; `operation` is its first SQL keyword (select, insert, …, other). */
  queryEnded(operation: string, seconds: number): void;
  /** Transactions open now. */
  transactionsOpen(open: number): void;
}

/** The instrumented pool, and what it has in flight (counted when asked: at a scrape). */
export interface InstrumentedDatabase {
  sql: Sql;
  /** Queries handed to the pool and not yet answered: waiting for a connection, or running. */
  inFlight(): { waiting: number; running: number };
}

/** The parts of a postgres.js Query this relies on (see the module comment). */
interface QueryInternals extends Promise<unknown> {
  handler: (query: QueryInternals) => void;
  strings: readonly string[];
  statement: unknown;
}

// Operations named in metrics: a fixed set, so that no query text ever becomes a label.
const operations = new Set(["select", "insert", "update", "delete", "with", "create", "set", "lock", "truncate"]);

/** Wraps `sql` so that every query and transaction is timed, counted and traced. */
export function instrumentDatabase(sql: Sql, observer: DatabaseObserver): InstrumentedDatabase {
  const inFlight = new Set<QueryInternals>();
  let transactions = 0;

  const instrument = (query: QueryInternals) => {
    const run = query.handler;
    query.handler = (self) => {
      const started = performance.now();
      const text = self.strings[0] ?? "";
      const keyword = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? "";
      const operation = operations.has(keyword) ? keyword : "other";
      const span = tracer.startSpan(
        operation.toUpperCase(),
        { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql", "db.operation.name": operation } },
        context.active(),
      );
      // Only the statement's text with placeholders: values never go into a span.
      if (span.isRecording()) span.setAttribute("db.query.text", self.strings.join("?").trim());
      inFlight.add(self);
      const ended = (err?: unknown) => {
        inFlight.delete(self);
        observer.queryEnded(operation, (performance.now() - started) / 1000);
        endSpan(span, err);
      };
      // Promise's own then: a Query's would hand it to the pool once more.
      Promise.prototype.then.call(self, () => ended(), ended);
      run(self);
    };
  };

  const wrap = (target: Sql): Sql =>
    new Proxy(target, {
      apply(fn, thisArg, args) {
        const result = Reflect.apply(fn, thisArg, args);
        // sql`…` is a query; sql("name") and sql(rows) are fragments, not run by themselves.
        if (isQuery(result)) instrument(result);
        return result;
      },
      get(obj, name, receiver) {
        const value = Reflect.get(obj, name, receiver);
        if (name === "unsafe" && typeof value === "function")
          return (...args: unknown[]) => {
            const query = value(...args);
            if (isQuery(query)) instrument(query);
            return query;
          };
        if ((name === "begin" || name === "savepoint") && typeof value === "function")
          return (...args: unknown[]) => {
            // The last argument is the body; it gets the transaction (or savepoint) instrumented.
            const body = args.at(-1) as (tx: Sql) => unknown;
            const wrapped = [...args.slice(0, -1), (tx: Sql) => body(wrap(tx))];
            return name === "begin" ? transaction(() => value(...wrapped)) : value(...wrapped);
          };
        return value;
      },
    });

  const transaction = <T>(run: () => Promise<T>): Promise<T> =>
    tracer.startActiveSpan(
      "transaction",
      { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } },
      async (span) => {
        observer.transactionsOpen(++transactions);
        try {
          const result = await run();
          endSpan(span);
          return result;
        } catch (err) {
          endSpan(span, err);
          throw err;
        } finally {
          observer.transactionsOpen(--transactions);
        }
      },
    );

  return {
    sql: wrap(sql),
    inFlight() {
      let waiting = 0;
      for (const query of inFlight) if (query.statement === null) waiting++;
      return { waiting, running: inFlight.size - waiting };
    },
  };
}

function isQuery(value: unknown): value is QueryInternals {
  return value instanceof Promise && typeof (value as Partial<QueryInternals>).handler === "function";
}

function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") span.setAttribute("db.response.status_code", code);
  }
  span.end();
}
