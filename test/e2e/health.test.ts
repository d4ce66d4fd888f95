/**
 * The health endpoints of the real service: grpc.health.v1.Health over gRPC and Connect, and
 * `GET /healthz` over HTTP/1.1 and HTTP/2, on the same port as FilesService. (The database outage
 * that turns them NOT_SERVING is in postgres-outage.test.ts.)
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import http2 from "node:http2";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";

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

  test("Watch answers unimplemented", async () => {
    const err = await (async () => {
      for await (const _ of health().watch({})) return undefined;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unimplemented);
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
