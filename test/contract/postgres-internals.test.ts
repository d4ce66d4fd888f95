/**
 * What the pool's instrumentation (src/observability/database-instrumentation.ts) relies on in
 * postgres.js's Query, pinned: an upgrade that changes any of it fails here, by name. No database
 * is needed: a query made and never sent connects to nothing.
 */
import postgres from "postgres";

const sql = postgres("postgres://nobody@127.0.0.1:1/none", { max: 1, connect_timeout: 1 });
afterAll(() => sql.end({ timeout: 0 }));

type QueryInternals = Promise<unknown> & {
  handler: (query: unknown) => void;
  strings: readonly string[];
  statement: unknown;
};

test("a tagged query is a Promise with its template strings, and no statement until a connection takes it", () => {
  const query = sql`select ${1} as one` as unknown as QueryInternals;
  expect(query).toBeInstanceOf(Promise);
  expect(query.strings).toEqual(["select ", " as one"]);
  expect(typeof query.handler).toBe("function");
  expect(query.statement).toBeNull();
  const unsafe = sql.unsafe("select 1") as unknown as QueryInternals;
  expect(unsafe.strings).toEqual(["select 1"]);
});

test("a query is handed to its handler once, when first awaited, with itself", async () => {
  const query = sql`select 1` as unknown as QueryInternals & { execute(): unknown };
  const handed: unknown[] = [];
  query.handler = (q) => handed.push(q);
  expect(handed).toEqual([]); // lazy: nothing before it is awaited
  query.execute();
  query.execute();
  await new Promise((resolve) => setImmediate(resolve));
  expect(handed).toEqual([query]);
});

test("fragments are not queries: sql(name) has no handler", () => {
  expect(sql("name")).not.toBeInstanceOf(Promise);
});
