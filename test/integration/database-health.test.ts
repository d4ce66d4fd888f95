/**
 * The database health check against a real Postgres, one that refuses connections, and one that
 * accepts them and never answers: SERVING only while the database answers, an answer within the
 * timeout either way, and at most one query per cache period however many probes ask.
 */
import net from "node:net";
import { createDatabaseHealth } from "../../src/health/database-health.js";
import { createLogger } from "../../src/log.js";
import { connectDatabase, type Sql } from "../../src/store/postgres/database.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { freePort } from "../support/free-port.js";

const log = createLogger({ silent: true });
let db: TestDatabase;
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
const pools: Sql[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  // Servers first: a pool still connecting to a silent one would wait out its connect timeout.
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
  await db?.drop();
});

/** A TCP server on a free port that accepts connections and never says a word. */
async function listen(): Promise<number> {
  const server = net.createServer((socket) => void sockets.push(socket)).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((r) => server.once("listening", r));
  return (server.address() as net.AddressInfo).port;
}

function pool(port: number): Sql {
  const sql = connectDatabase({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, schema: "public", max: 2 });
  pools.push(sql);
  return sql;
}

test("serving while the database answers", async () => {
  expect(await createDatabaseHealth(db.sql, log).serving()).toBe(true);
});

test("not serving, at once, when nothing listens on the database's port", async () => {
  const port = await freePort();
  const started = Date.now();
  // A timeout longer than the test's limit: only an immediate refusal passes.
  expect(await createDatabaseHealth(pool(port), log, { timeoutMs: 60_000 }).serving()).toBe(false);
  expect(Date.now() - started).toBeLessThan(1500);
});

test("not serving within the timeout when the database accepts but never answers", async () => {
  const port = await listen();
  const started = Date.now();
  expect(await createDatabaseHealth(pool(port), log, { timeoutMs: 300 }).serving()).toBe(false);
  // postgres.js alone would wait its 5 s connect timeout.
  expect(Date.now() - started).toBeLessThan(2500);
});

test("probes share one query per cache period", async () => {
  let queries = 0;
  const counting = ((...args: Parameters<Sql>) => {
    queries++;
    return db.sql(...args);
  }) as unknown as Sql;
  const health = createDatabaseHealth(counting, log, { cacheMs: 1500 }); // room for a slow first query
  const answers = await Promise.all(Array.from({ length: 50 }, () => health.serving()));
  expect(answers.every(Boolean)).toBe(true);
  for (let i = 0; i < 20; i++) await health.serving();
  expect(queries).toBe(1);
  await new Promise((r) => setTimeout(r, 1600));
  await health.serving();
  expect(queries).toBe(2);
});
