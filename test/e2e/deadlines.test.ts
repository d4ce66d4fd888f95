/**
 * Client deadlines (grpc-timeout, connect-timeout-ms): accepted by default, as every gRPC client
 * and Kubernetes gRPC probe sends one, and refused above --max-request-timeout-seconds when set.
 */
import { Code, createClient } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";

const apps: TestApp[] = [];
afterAll(() => Promise.all(apps.map((a) => a.close())));

async function start(settings: Record<string, string> = {}): Promise<TestApp> {
  const t = await startTestApp({ "shutdown-grace-seconds": "1", ...settings });
  apps.push(t);
  return t;
}

describe.each(transportNames)("over %s", (transport) => {
  test("with no limit configured (the default), a call with a deadline is served", async () => {
    const t = await start();
    expect((await t.client(transport).listBuckets({}, { timeoutMs: 30_000 })).data).toEqual([]);
    const health = createClient(Health, t.transports[transport]);
    expect((await health.check({}, { timeoutMs: 10_000 })).status).toBe(ServingStatus.SERVING);
  });

  test("with a limit, a longer deadline is invalid_argument and a shorter one is served", async () => {
    const t = await start({ "max-request-timeout-seconds": "5" });
    await expect(t.client(transport).listBuckets({}, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    expect((await t.client(transport).listBuckets({}, { timeoutMs: 4_000 })).data).toEqual([]);
  });
});
