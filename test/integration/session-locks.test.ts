import { randomUUID } from "node:crypto";
import net from "node:net";
import {
  createSessionLocks,
  lockKey,
  type SessionLease,
  type SessionLocks,
} from "../../src/store/postgres/session-locks.js";
import { createTestDatabase, sessionLockHolder, type TestDatabase } from "../support/database.js";
import { eventually } from "../support/uploads.js";

// Two lock managers on one database stand for two server processes. Advisory locks are per
// database, not per schema, so every test uses fresh random session ids.

let db: TestDatabase;
let managers: SessionLocks[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());
afterEach(async () => {
  await Promise.all(managers.map((m) => m.close().catch(() => undefined)));
  managers = [];
});

/** A lock manager (a "server process"), closed after the test. */
function manager(url = db.url): SessionLocks {
  const m = createSessionLocks(url, db.schema);
  managers.push(m);
  return m;
}

async function acquired(locks: SessionLocks, id: string): Promise<SessionLease> {
  const lease = await locks.tryAcquire(id);
  if (!lease) throw new Error(`expected to acquire ${id}`);
  return lease;
}

/** Kills, from the server side, the lock connection that holds `sessionId`. */
async function killConnectionHolding(sessionId: string): Promise<number> {
  const pid = await sessionLockHolder(db.sql, sessionId);
  if (pid === undefined) throw new Error(`no backend holds the lock of ${sessionId}`);
  const [{ killed }] = await db.sql`select pg_terminate_backend(${pid}) as killed`;
  expect(killed).toBe(true);
  return pid;
}

describe("exclusion", () => {
  test("a second tryAcquire in the same manager answers undefined", async () => {
    // Postgres advisory locks are re-entrant on one connection: only the in-process set stops this.
    const a = manager();
    const id = randomUUID();
    const lease = await acquired(a, id);
    expect(await a.tryAcquire(id)).toBeUndefined();
    expect(lease.valid).toBe(true);
  });

  test("a tryAcquire in another manager answers undefined", async () => {
    const [a, b] = [manager(), manager()];
    const id = randomUUID();
    await acquired(a, id);
    expect(await b.tryAcquire(id)).toBeUndefined();
  });

  test("the lock is visible in pg_locks, held by the lock connection", async () => {
    const a = manager();
    const id = randomUUID();
    expect(await sessionLockHolder(db.sql, id)).toBeUndefined();
    await acquired(a, id);
    expect(await sessionLockHolder(db.sql, id)).toEqual(expect.any(Number));
  });

  test("concurrent tryAcquire of one id in one manager: exactly one wins", async () => {
    const a = manager();
    const id = randomUUID();
    const results = await Promise.all(Array.from({ length: 5 }, () => a.tryAcquire(id)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("concurrent tryAcquire of one id in two managers: exactly one wins", async () => {
    const [a, b] = [manager(), manager()];
    const id = randomUUID();
    const results = await Promise.all([a.tryAcquire(id), b.tryAcquire(id), a.tryAcquire(id), b.tryAcquire(id)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  test("different sessions do not exclude each other", async () => {
    const [a, b] = [manager(), manager()];
    const [x, y] = [randomUUID(), randomUUID()];
    await acquired(a, x);
    await acquired(a, y);
    expect(await b.tryAcquire(randomUUID())).toBeDefined();
  });
});

describe("release", () => {
  test("lets the other manager acquire at once", async () => {
    const [a, b] = [manager(), manager()];
    const id = randomUUID();
    const lease = await acquired(a, id);
    await lease.release();
    expect(lease.valid).toBe(false);
    expect(await b.tryAcquire(id)).toBeDefined();
  });

  test("lets the same manager acquire again", async () => {
    const a = manager();
    const id = randomUUID();
    await (await acquired(a, id)).release();
    expect(await a.tryAcquire(id)).toBeDefined();
  });

  test("frees the database lock too, not only the in-process claim", async () => {
    const a = manager();
    const id = randomUUID();
    await (await acquired(a, id)).release();
    expect(await sessionLockHolder(db.sql, id)).toBeUndefined();
  });

  test("a second release of an old lease leaves a newer lease of the same session alone", async () => {
    const [a, b] = [manager(), manager()];
    const id = randomUUID();
    const first = await acquired(a, id);
    await first.release();
    const second = await acquired(a, id);
    await first.release(); // stale: must not unlock what `second` holds
    expect(second.valid).toBe(true);
    expect(await b.tryAcquire(id)).toBeUndefined();
  });

  test("after the other manager took over, a stale release does not free its lock", async () => {
    const [a, b, c] = [manager(), manager(), manager()];
    const id = randomUUID();
    const old = await acquired(a, id);
    await old.release();
    await acquired(b, id);
    await old.release();
    expect(await c.tryAcquire(id)).toBeUndefined();
  });
});

describe("close", () => {
  test("releases the manager's locks for the other manager", async () => {
    const [a, b] = [manager(), manager()];
    const [x, y] = [randomUUID(), randomUUID()];
    await acquired(a, x);
    await acquired(a, y);
    await a.close();
    // The server frees the locks when the backend exits, a moment after the client closed.
    await eventually(() => b.tryAcquire(x), 5000, "x is free");
    await eventually(() => b.tryAcquire(y), 5000, "y is free");
  });

  test("makes the manager's leases invalid", async () => {
    const a = manager();
    const lease = await acquired(a, randomUUID());
    await a.close();
    expect(lease.valid).toBe(false);
    await expect(lease.release()).resolves.toBeUndefined();
  });
});

describe("lost lock connection", () => {
  test("killing it from the server invalidates its leases and frees its locks", async () => {
    const [a, b] = [manager(), manager()];
    const [x, y] = [randomUUID(), randomUUID()];
    const lease = await acquired(a, x);
    const other = await acquired(a, y);
    await killConnectionHolding(x);
    await eventually(() => !lease.valid, 5000, "the lease is invalid");
    expect(other.valid).toBe(false); // every lease on that connection, not only the one we looked up
    await eventually(() => b.tryAcquire(x), 5000, "another manager acquires x");
    await eventually(() => b.tryAcquire(y), 5000, "another manager acquires y");
  });

  test("only the killed manager is affected", async () => {
    const [a, b] = [manager(), manager()];
    const [x, z] = [randomUUID(), randomUUID()];
    const aLease = await acquired(a, x);
    const bLease = await acquired(b, z);
    const bPid = await sessionLockHolder(db.sql, z);
    const killed = await killConnectionHolding(x);
    expect(killed).not.toBe(bPid);
    await eventually(() => !aLease.valid, 5000, "a's lease is invalid");
    expect(bLease.valid).toBe(true);
    expect(await sessionLockHolder(db.sql, z)).toBe(bPid);
    expect(await a.tryAcquire(z)).toBeUndefined();
  });

  test("the manager reconnects and takes locks again", async () => {
    const [a, b] = [manager(), manager()];
    const x = randomUUID();
    const lease = await acquired(a, x);
    const oldPid = await killConnectionHolding(x);
    await eventually(() => !lease.valid, 5000, "the lease is invalid");
    const fresh = randomUUID();
    const next = await eventually(() => a.tryAcquire(fresh), 5000, "a acquires on a new connection");
    expect(next.valid).toBe(true);
    const newPid = await sessionLockHolder(db.sql, fresh);
    expect(newPid).toEqual(expect.any(Number));
    expect(newPid).not.toBe(oldPid);
    expect(await b.tryAcquire(fresh)).toBeUndefined();
  });

  test("a lease lost with its connection: release is harmless and frees nothing of the new owner", async () => {
    const [a, b] = [manager(), manager()];
    const x = randomUUID();
    const lost = await acquired(a, x);
    await killConnectionHolding(x);
    await eventually(() => !lost.valid, 5000, "the lease is invalid");
    await eventually(() => b.tryAcquire(x), 5000, "b acquires x");
    await expect(lost.release()).resolves.toBeUndefined();
    expect(await a.tryAcquire(x)).toBeUndefined();
  });

  // When the lock connection dies while lock queries are still queued in postgres.js (a full
  // pipeline, or any query issued while the first prepared statement of a fresh connection is
  // being described), postgres.js runs the queued queries on the *new* connection. tryAcquire sees
  // the generation changed and answers undefined; the lock it may have been granted there must be
  // given back, or no other process could ever take those sessions again.
  // A TCP proxy holds back the queries already sent, so the connection dies with them unanswered.
  test("locks granted to queries queued across a reconnect are not leaked", async () => {
    const proxy = await startProxy(new URL(db.url));
    try {
      const [a, b] = [manager(proxy.url), manager()];
      const first = randomUUID();
      await acquired(a, first); // connects and prepares the statement
      proxy.holdExistingConnections();
      const ids = Array.from({ length: 150 }, () => randomUUID()); // more than postgres.js pipelines (100)
      const attempts = Promise.allSettled(ids.map((id) => a.tryAcquire(id)));
      await killConnectionHolding(first);
      const results = await attempts;
      // None of these may have been granted: the connection was cut before an answer came back.
      const granted = ids.filter((_, i) => results[i].status === "fulfilled" && results[i].value);
      const notGranted = ids.filter((id) => !granted.includes(id));
      expect(notGranted.length).toBeGreaterThan(100);
      // So nobody holds them, and another process must be able to take every one.
      const stuck: string[] = [];
      for (const id of notGranted) {
        const lease = await b.tryAcquire(id);
        if (!lease) stuck.push(id);
      }
      expect(stuck).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe("lockKey", () => {
  test("is deterministic", () => {
    expect(lockKey("0f8fad5b-d9cb-469f-a165-70867728950e")).toBe(lockKey("0f8fad5b-d9cb-469f-a165-70867728950e"));
  });

  test("is the first 64 bits of the uuid as a signed bigint", () => {
    expect(lockKey("00000000-0000-0001-0000-000000000000")).toBe("1");
    expect(lockKey("7fffffff-ffff-ffff-0000-000000000000")).toBe("9223372036854775807");
    expect(lockKey("80000000-0000-0000-0000-000000000000")).toBe("-9223372036854775808");
    expect(lockKey("ffffffff-ffff-ffff-ffff-ffffffffffff")).toBe("-1");
  });

  test("fits a Postgres bigint", () => {
    for (let i = 0; i < 100; i++) {
      const key = BigInt(lockKey(randomUUID()));
      expect(key >= -(2n ** 63n) && key < 2n ** 63n).toBe(true);
    }
  });

  test("differs for different uuids", () => {
    const ids = Array.from({ length: 1000 }, () => randomUUID());
    expect(new Set(ids.map(lockKey)).size).toBe(ids.length);
    // One hex digit apart, in the first and in the last position that the key covers.
    expect(lockKey("00000000-0000-4000-8000-000000000000")).not.toBe(lockKey("10000000-0000-4000-8000-000000000000"));
    expect(lockKey("00000000-0000-4000-8000-000000000000")).not.toBe(lockKey("00000000-0000-4001-8000-000000000000"));
  });
});

/**
 * A TCP proxy in front of Postgres that can stop passing on what the connections open so far send
 * (their queries are then never answered), while later connections pass freely.
 */
async function startProxy(
  target: URL,
): Promise<{ url: string; holdExistingConnections(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const held = new WeakSet<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (d) => {
      if (!held.has(client)) upstream.write(d);
    });
    upstream.on("data", (d) => client.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    holdExistingConnections() {
      for (const s of sockets) held.add(s);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
