/**
 * The health endpoints of the real service: grpc.health.v1.Health over gRPC and Connect, and
 * `GET /healthz` over HTTP/1.1 and HTTP/2, on the same port as FilesService. (The database outage
 * that turns them NOT_SERVING is in postgres-outage.test.ts; here, Watch follows a database cut off
 * by a TCP proxy, and its shared poll is counted against a fake Health over a real connection.)
 */
import { Code, ConnectError, createClient, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import http2 from "node:http2";
import net from "node:net";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createHealthService, createHealthWatch, type HealthWatch } from "../../src/health/health-service.js";
import { databaseUrl } from "../support/database.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";
import { eventually } from "../support/uploads.js";

/** Reads a stream one message at a time, with a limit on each wait. */
function reader<T>(stream: AsyncIterable<T>) {
  const it = stream[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  return {
    /** The next message, "ended", or "silent" when none came within `ms`; rejects with the stream's error. */
    async next(ms = 10_000): Promise<T | "ended" | "silent"> {
      if (!pending) {
        pending = it.next();
        pending.catch(() => undefined); // seen by the next call, even after a "silent"
      }
      const timer = new Promise<"silent">((r) => setTimeout(() => r("silent"), ms).unref());
      const r = await Promise.race([pending, timer]);
      if (r === "silent") return r;
      pending = undefined;
      return r.done ? "ended" : r.value;
    },
    /** The next message's status (failing when none comes within `ms`). */
    async status(ms = 10_000): Promise<ServingStatus> {
      const m = await this.next(ms);
      if (typeof m === "string") throw new Error(`expected a status, the stream is ${m}`);
      return (m as { status: ServingStatus }).status;
    },
    /** The error the stream ends with (failing when it ends without one or not within `ms`). */
    async error(ms = 10_000): Promise<ConnectError> {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = await this.next(Math.max(0, deadline - Date.now())).catch((e: unknown) => e);
        if (m instanceof ConnectError) return m;
        if (m === "ended" || m === "silent") throw new Error(`expected an error, the stream is ${m}`);
      }
    },
  };
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "shutdown-grace-seconds": "1" });
});
afterAll(() => t?.close());

describe.each(transportNames)("grpc.health.v1.Health over %s", (transport) => {
  const health = () => createClient(Health, t.transports[transport]);

  test.each(["", "files.v1.FilesService"])("Check(%j) answers SERVING", async (service) => {
    expect((await health().check({ service })).status).toBe(ServingStatus.SERVING);
  });

  test("Check of an unknown service is not_found", async () => {
    await expect(health().check({ service: "no.such.Service" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  test.each(["", "files.v1.FilesService"])(
    "Watch(%j) answers SERVING at once, stays open, and ends when the client cancels",
    async (service) => {
      const cancel = new AbortController();
      const w = reader(health().watch({ service }, { signal: cancel.signal }));
      expect(await w.status(2000)).toBe(ServingStatus.SERVING);
      expect(await w.next(1500)).toBe("silent"); // nothing changed: nothing new (and no end)
      expect(t.app.runningHandlers()).toBe(1);
      cancel.abort();
      expect((await w.error()).code).toBe(Code.Canceled);
      // The handler on the server has ended too.
      await eventually(() => t.app.runningHandlers() === 0, 5000, "the Watch handler ends");
    },
  );

  test("Watch of an unknown service answers SERVICE_UNKNOWN and stays open", async () => {
    const cancel = new AbortController();
    const w = reader(health().watch({ service: "no.such.Service" }, { signal: cancel.signal }));
    expect(await w.status(2000)).toBe(ServingStatus.SERVICE_UNKNOWN);
    expect(await w.next(1500)).toBe("silent");
    cancel.abort();
    expect((await w.error()).code).toBe(Code.Canceled);
    await eventually(() => t.app.runningHandlers() === 0, 5000, "the Watch handler ends");
  });
});

test("GET /healthz over HTTP/1.1 answers 200 SERVING, uncached", async () => {
  const res = await fetch(`${t.baseUrl}/healthz`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(await res.json()).toEqual({ status: "SERVING" });
  const head = await fetch(`${t.baseUrl}/healthz?probe=1`, { method: "HEAD" });
  expect(head.status).toBe(200);
});

test("GET /healthz over HTTP/2 answers the same", async () => {
  const session = http2.connect(t.baseUrl);
  try {
    const req = session.request({ ":path": "/healthz", ":method": "GET" });
    const status = new Promise<number>((resolve) => req.once("response", (h) => resolve(Number(h[":status"]))));
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    await new Promise((r) => req.once("end", r));
    expect(await status).toBe(200);
    expect(JSON.parse(body)).toEqual({ status: "SERVING" });
  } finally {
    session.close();
  }
});

test("other paths and methods still fall through to 404", async () => {
  expect((await fetch(`${t.baseUrl}/healthz`, { method: "POST" })).status).toBe(404);
  expect((await fetch(`${t.baseUrl}/healthzz`)).status).toBe(404);
});

/** A TCP proxy in front of the tests' Postgres that can cut the service off and let it back. */
async function startPostgresProxy() {
  const upstream = new URL(databaseUrl());
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const pg = net.connect(Number(upstream.port || 5432), upstream.hostname);
    for (const s of [client, pg]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.once("close", () => {
        sockets.delete(s);
        client.destroy();
        pg.destroy();
      });
    }
    client.pipe(pg).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(upstream);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    /** Cuts every connection and refuses new ones. */
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("Watch follows the database", () => {
  let proxy: Awaited<ReturnType<typeof startPostgresProxy>>;
  let p: TestApp;
  beforeAll(async () => {
    proxy = await startPostgresProxy();
    p = await startTestApp({ "database-url": proxy.url, "shutdown-grace-seconds": "1" });
  });
  afterAll(async () => {
    proxy?.restore();
    await p?.close();
    await proxy?.close();
  });

  test.each(transportNames)(
    "over %s: NOT_SERVING when Postgres is unreachable, SERVING once it is back",
    async (transport) => {
      const cancel = new AbortController();
      const w = reader(createClient(Health, p.transports[transport]).watch({}, { signal: cancel.signal }));
      try {
        expect(await w.status(2000)).toBe(ServingStatus.SERVING);
        proxy.cut();
        // The shared poll asks every second; a failed check is known within its 2 s timeout.
        expect(await w.status(6000)).toBe(ServingStatus.NOT_SERVING);
        expect(await w.next(1500)).toBe("silent"); // still down: nothing new
        proxy.restore();
        expect(await w.status(6000)).toBe(ServingStatus.SERVING);
      } finally {
        proxy.restore();
        cancel.abort();
      }
    },
    30_000,
  );
});

describe("Watch and shutdown", () => {
  let s: TestApp;
  beforeAll(async () => {
    // A grace period far longer than the test may take, and an idle timeout shorter than it.
    s = await startTestApp({ "shutdown-grace-seconds": "30", "idle-timeout-seconds": "1" });
  });
  let closed: Promise<void> | undefined;
  afterAll(() => closed ?? s?.close());

  test("a quiet Watch repeats its status, so the idle timeout never cuts it", async () => {
    const cancel = new AbortController();
    const w = reader(createClient(Health, s.transports["grpc (HTTP/2)"]).watch({}, { signal: cancel.signal }));
    const started = Date.now();
    const seen: ServingStatus[] = [];
    while (Date.now() - started < 2500) seen.push(await w.status(1000));
    cancel.abort();
    expect(seen.length).toBeGreaterThanOrEqual(4); // at once, then every half second
    expect(new Set(seen)).toEqual(new Set([ServingStatus.SERVING]));
  });

  test("app.close() ends every open Watch (NOT_SERVING, then unavailable) well within the grace period", async () => {
    const watches = [
      ...transportNames.map((name) => ({ w: reader(createClient(Health, s.transports[name]).watch({})), known: true })),
      {
        w: reader(createClient(Health, s.transports["grpc (HTTP/2)"]).watch({ service: "no.such.Service" })),
        known: false,
      },
    ];
    for (const { w, known } of watches)
      expect(await w.status(2000)).toBe(known ? ServingStatus.SERVING : ServingStatus.SERVICE_UNKNOWN);
    expect(s.app.runningHandlers()).toBe(watches.length);

    const started = Date.now();
    closed = s.close(); // the app, then its schema and blob directory
    for (const { w, known } of watches) {
      const messages: ServingStatus[] = [];
      let err: ConnectError | undefined;
      for (;;) {
        const m = await w.next(5000).catch((e: unknown) => e);
        if (m instanceof ConnectError) err = m;
        else if (typeof m === "object" && m !== null) {
          messages.push((m as { status: ServingStatus }).status);
          continue;
        }
        break;
      }
      // A quiet repeat may come first; a known service's last answer is NOT_SERVING.
      if (known) expect(messages.at(-1)).toBe(ServingStatus.NOT_SERVING);
      else expect(messages.every((m) => m === ServingStatus.SERVICE_UNKNOWN)).toBe(true);
      expect(err?.code).toBe(Code.Unavailable);
    }
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe("the shared poll of Watch streams (a fake Health over a real HTTP/2 connection)", () => {
  let serving = true;
  let checks = 0;
  const fake = {
    serving: async () => {
      checks++;
      return serving;
    },
  };
  let watch: HealthWatch;
  let server: http2.Http2Server;
  const sessions = new Set<http2.ServerHttp2Session>();
  let client: ReturnType<typeof createClient<typeof Health>>;
  beforeAll(async () => {
    watch = createHealthWatch(fake, { pollMs: 100 });
    const routes = (router: ConnectRouter) => router.service(Health, createHealthService(fake, watch));
    server = http2.createServer(connectNodeAdapter({ routes }));
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  });
  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  test("one poll for every Watch, only while one is open; every Watch sees each change", async () => {
    expect(watch.polling).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(checks).toBe(0); // no Watch: no poll

    const cancel = new AbortController();
    const watchers = Array.from({ length: 5 }, () => reader(client.watch({}, { signal: cancel.signal })));
    for (const w of watchers) expect(await w.status(2000)).toBe(ServingStatus.SERVING);
    expect(watch.watching).toBe(5);
    expect(watch.polling).toBe(true);

    const before = checks;
    await new Promise((r) => setTimeout(r, 1000));
    const polls = checks - before;
    // About 10 at 100 ms: one poll for the five (one each would be about 50).
    expect(polls).toBeGreaterThanOrEqual(5);
    expect(polls).toBeLessThanOrEqual(12);
    for (const w of watchers) expect(await w.next(50)).toBe("silent"); // no change, nothing sent

    serving = false;
    for (const w of watchers) expect(await w.status(1000)).toBe(ServingStatus.NOT_SERVING);
    serving = true;
    for (const w of watchers) expect(await w.status(1000)).toBe(ServingStatus.SERVING);

    cancel.abort();
    for (const w of watchers) expect((await w.error()).code).toBe(Code.Canceled);
    await eventually(() => watch.watching === 0, 2000, "every Watch has left");
    await eventually(() => !watch.polling, 2000, "the poll stops");
    const after = checks;
    await new Promise((r) => setTimeout(r, 500));
    expect(checks).toBe(after);
  });

  test("close() ends open Watches with NOT_SERVING and unavailable, and later ones at once", async () => {
    const w = reader(client.watch({}));
    expect(await w.status(2000)).toBe(ServingStatus.SERVING);
    watch.close();
    expect(await w.status(1000)).toBe(ServingStatus.NOT_SERVING);
    expect((await w.error(1000)).code).toBe(Code.Unavailable);
    expect(watch.polling).toBe(false);

    const late = reader(client.watch({}));
    expect(await late.status(1000)).toBe(ServingStatus.SERVING);
    expect(await late.status(1000)).toBe(ServingStatus.NOT_SERVING);
    expect((await late.error(1000)).code).toBe(Code.Unavailable);
  });
});
