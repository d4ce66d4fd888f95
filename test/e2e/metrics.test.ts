/**
 * `GET /metrics` after a known sequence of calls over gRPC, Connect and REST: the counts, the
 * bytes, the uploads' and the sweep's counters are what those calls did, no label names a bucket,
 * key or upload id, and the route is guarded like every other when API keys are on.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content } from "../support/uploads.js";

/** The value of one sample of a Prometheus text exposition, labels matched exactly. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? "").match(/\w+="(?:[^"\\]|\\.)*"/g) ?? [];
    if (got.sort().join(",") === wanted) return Number(m[3]);
  }
  return undefined;
}

async function scrape(port: number, headers: Record<string, string> = {}) {
  return restCall(`http://127.0.0.1:${port}`, "GET", "/metrics", undefined, headers);
}

describe("after a known sequence of calls", () => {
  let t: TestApp;
  let text: string;
  const fs = "files.v1.FilesService";
  const calls = (method: string, protocol: string, code = "ok") =>
    sample(text, "files_rpc_calls_total", { service: fs, method, protocol, code });

  beforeAll(async () => {
    t = await startTestApp();
    const grpc = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
    const connect = createClient(FilesService, createConnectTransport({ baseUrl: t.baseUrl, httpVersion: "1.1" }));

    // gRPC: one upload of 3000 bytes in three messages, then its download.
    const { session } = await grpc.createUploadSession({ bucket: "metric-bucket", key: "secret-key.bin", size: 3000n });
    await grpc.uploadContent(chunks(session!.id, content(3000), 1000));
    for await (const _ of grpc.downloadFile({ bucket: "metric-bucket", key: "secret-key.bin" }));
    // A retry after completion answers the file again: not a second completed upload.
    await grpc.uploadContent(chunks(session!.id, new Uint8Array(0), 1));
    // Connect: an upload to a session that does not exist fails.
    await expect(
      connect.uploadContent(chunks("00000000-0000-4000-8000-000000000000", content(10), 10)),
    ).rejects.toMatchObject({ code: Code.NotFound });
    // Connect: a session left open, and one that expires and is swept.
    await connect.createUploadSession({ bucket: "metric-bucket", key: "open.bin", size: 10n });
    const expiring = (await connect.createUploadSession({ bucket: "metric-bucket", key: "old.bin", size: 10n }))
      .session!;
    await t.app.sql`update upload_sessions set expires_at = now() - interval '1 second' where id = ${expiring.id}`;
    await t.app.sweeper.sweep();
    // REST: an upload of 500 bytes in one request, and its file's info.
    const created = await restCall(
      t.baseUrl,
      "POST",
      "/v1/files",
      JSON.stringify({ bucket: "rest-b", key: "r", size: 500 }),
    );
    const { url } = created.json() as { url: string };
    expect((await restCall(t.baseUrl, "POST", new URL(url).pathname, Buffer.from(content(500)))).status).toBe(200);
    expect((await restCall(t.baseUrl, "GET", "/v1/files/rest-b/r")).status).toBe(200);

    const res = await scrape(t.app.port);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    text = res.text;
    console.log(
      text
        .split("\n")
        .filter((l) => l.startsWith("files_rpc_calls"))
        .join("\n"),
    );
  });
  afterAll(() => t?.close());

  test("RPC calls and their latency, by service, method, protocol and code", () => {
    expect(calls("CreateUploadSession", "grpc")).toBe(1);
    expect(calls("UploadContent", "grpc")).toBe(2);
    expect(calls("DownloadFile", "grpc")).toBe(1);
    expect(calls("UploadContent", "connect", "not_found")).toBe(1);
    expect(calls("CreateUploadSession", "connect")).toBe(2);
    expect(calls("CreateUploadSession", "rest")).toBe(1);
    expect(calls("UploadContent", "rest")).toBe(1);
    expect(calls("GetFile", "rest")).toBe(1);
    const labels = { service: fs, method: "UploadContent", protocol: "grpc", code: "ok" };
    expect(sample(text, "files_rpc_duration_seconds_count", labels)).toBe(2);
    expect(sample(text, "files_rpc_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(2);
  });

  test("content bytes received and sent, by protocol", () => {
    expect(sample(text, "files_received_bytes_total", { protocol: "grpc" })).toBe(3000);
    expect(sample(text, "files_received_bytes_total", { protocol: "rest" })).toBe(500);
    expect(sample(text, "files_sent_bytes_total", { protocol: "grpc" })).toBe(3000);
  });

  test("uploads started, completed and failed, and the sessions open", () => {
    expect(sample(text, "files_uploads_started_total")).toBe(4);
    expect(sample(text, "files_uploads_completed_total")).toBe(2);
    expect(sample(text, "files_uploads_failed_total", { code: "not_found" })).toBe(1);
    expect(sample(text, "files_upload_sessions_open")).toBe(1);
  });

  test("sweeps and what they removed", () => {
    expect(sample(text, "files_sweep_runs_total", { result: "ok" })).toBe(1);
    expect(sample(text, "files_sweep_removed_total", { kind: "expired_sessions" })).toBe(1);
    expect(sample(text, "files_sweep_removed_total", { kind: "content" })).toBe(1);
  });

  test("the database pool and its queries, and the process", () => {
    expect(sample(text, "files_db_pool_connections_max")).toBe(10);
    expect(sample(text, "files_db_query_duration_seconds_count", { operation: "select" })).toBeGreaterThan(0);
    expect(sample(text, "files_db_query_duration_seconds_count", { operation: "update" })).toBeGreaterThan(0);
    expect(sample(text, "files_db_queries_in_flight", { state: "waiting" })).toBe(0);
    expect(sample(text, "files_db_transactions_open")).toBe(0);
    expect(sample(text, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
  });

  test("no label names a bucket, a key or an upload id", () => {
    expect(text).not.toMatch(/metric-bucket|secret-key|rest-b|[0-9a-f]{8}-[0-9a-f]{4}-/);
  });
});

describe("access and port", () => {
  const key = "metrics-key-0123456789abcdef";
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  test("with API keys on, a scrape needs a valid key; refused calls are counted", async () => {
    t = await startTestApp({ "api-keys": `${key}:r:cats` });
    const noKey = await scrape(t.app.port);
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await scrape(t.app.port, { authorization: "Bearer wrong-key-0123456789abcdef" })).status).toBe(401);
    const anonymous = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
    await expect(anonymous.listBuckets({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    const res = await scrape(t.app.port, { authorization: `Bearer ${key}` });
    expect(res.status).toBe(200);
    const labels = {
      service: "files.v1.FilesService",
      method: "ListBuckets",
      protocol: "grpc",
      code: "unauthenticated",
    };
    expect(sample(res.text, "files_rpc_calls_total", labels)).toBe(1);
  });

  test("METRICS_OPEN opens the scrape while keys are on", async () => {
    t = await startTestApp({ "api-keys": `${key}:r:cats`, "metrics-open": "true" });
    expect((await scrape(t.app.port)).status).toBe(200);
    const files = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
    // Only the scrape is open.
    await expect(files.listBuckets({})).rejects.toBeInstanceOf(ConnectError);
  });

  test("METRICS_PORT serves it on a port of its own, and the main port no longer does", async () => {
    t = await startTestApp({ "metrics-port": "0" });
    expect(t.app.metricsPort).not.toBe(t.app.port);
    const own = await scrape(t.app.metricsPort);
    expect(own.status).toBe(200);
    expect(sample(own.text, "files_db_pool_connections_max")).toBe(10);
    expect((await scrape(t.app.port)).status).toBe(404);
    expect((await restCall(`http://127.0.0.1:${t.app.metricsPort}`, "GET", "/v1/files")).status).toBe(404);
  });

  test("each service has its own registry", async () => {
    t = await startTestApp();
    const other = await startTestApp();
    try {
      const files = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
      await files.listBuckets({});
      const labels = { service: "files.v1.FilesService", method: "ListBuckets", protocol: "grpc", code: "ok" };
      expect(sample((await scrape(t.app.port)).text, "files_rpc_calls_total", labels)).toBe(1);
      expect(sample((await scrape(other.app.port)).text, "files_rpc_calls_total", labels)).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});
