/**
 * Tracing, as a collector would see it: this test process registers an SDK of its own (an
 * in-memory exporter, the W3C propagator, async context) and runs the service in process. One
 * upload sent with a `traceparent` is a server span, the child of the client's span, with the
 * `rpc.*` attributes; its checkpoints and its completion are children of that span, and their
 * database queries children of theirs. A second test runs the real server process with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a tiny OTLP receiver here, which gets the spans.
 */
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServer, type IncomingMessage } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { createTestDatabase } from "../support/database.js";
import { restCall } from "../support/rest.js";
import { startServerProcess } from "../support/server-process.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, eventually } from "../support/uploads.js";

const KiB = 1024;
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager().enable();

// The client's trace: the server's spans must join it.
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const clientSpanId = "00f067aa0ba902b7";
const traceparent = `00-${traceId}-${clientSpanId}-01`;

let t: TestApp;
beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(contextManager);
  // Checkpoints every 64 KiB, so that one upload makes several.
  t = await startTestApp({ "checkpoint-bytes": "64KiB" });
});
afterAll(async () => {
  await t?.close();
  await provider.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const withTraceparent: Interceptor = (next) => (req) => {
  req.header.set("traceparent", traceparent);
  return next(req);
};

const spans = () => exporter.getFinishedSpans();
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const childrenOf = (parent: ReadableSpan) => spans().filter((s) => parentOf(s) === parent.spanContext().spanId);

/** The spans under `root` as an indented tree of names, for reading a failure. */
function tree(root: ReadableSpan, depth = 0): string {
  return [`${"  ".repeat(depth)}${root.name}`, ...childrenOf(root).map((c) => tree(c, depth + 1))].join("\n");
}

test("one upload: a server span under the client's, its checkpoints and completion under it, their queries under those", async () => {
  const files = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
  const { session } = await files.createUploadSession({ bucket: "traced", key: "a.bin", size: BigInt(200 * KiB) });
  exporter.reset();
  const traced = createClient(
    FilesService,
    createGrpcTransport({ baseUrl: t.baseUrl, interceptors: [withTraceparent] }),
  );
  await traced.uploadContent(chunks(session!.id, content(200 * KiB), 50 * KiB));
  await t.app.removalsDone();

  const server = spans().find((s) => s.name === "files.v1.FilesService/UploadContent");
  expect(server).toBeDefined();
  const root = server!;
  expect(root.kind).toBe(SpanKind.SERVER);
  expect(root.spanContext().traceId).toBe(traceId);
  expect(parentOf(root)).toBe(clientSpanId);
  expect(root.attributes).toMatchObject({
    "rpc.system": "grpc",
    "rpc.service": "files.v1.FilesService",
    "rpc.method": "UploadContent",
    "rpc.grpc.status_code": 0,
  });
  console.log(`the upload's spans:\n${tree(root)}`);

  const children = childrenOf(root);
  const checkpoints = children.filter((s) => s.name === "upload.checkpoint");
  // At most one per 64 KiB and the last one, at the end (one due while another runs is skipped).
  expect(checkpoints.length).toBeGreaterThanOrEqual(1);
  expect(checkpoints.length).toBeLessThanOrEqual(4);
  expect(checkpoints.map((s) => s.attributes["files.upload.offset"])).toContain(200 * KiB);
  const completion = children.filter((s) => s.name === "upload.complete");
  expect(completion).toHaveLength(1);

  // Each checkpoint moves the offset: an UPDATE, its child.
  for (const checkpoint of checkpoints) {
    const queries = childrenOf(checkpoint);
    expect(queries.map((q) => q.name)).toContain("UPDATE");
    expect(queries[0]).toMatchObject({ kind: SpanKind.CLIENT });
    expect(queries[0].attributes).toMatchObject({ "db.system.name": "postgresql" });
  }
  // Completion commits in one transaction, whose queries are its children.
  const transaction = childrenOf(completion[0]).find((s) => s.name === "transaction");
  expect(transaction).toBeDefined();
  expect(childrenOf(transaction!).length).toBeGreaterThan(0);
  // The lookups before the writer starts are the server span's own queries.
  expect(children.some((s) => s.kind === SpanKind.CLIENT && s.name === "SELECT")).toBe(true);
  // Everything is in the client's trace; query texts carry placeholders, never values.
  const inTrace = spans().filter((s) => s.spanContext().traceId === traceId);
  expect(inTrace.length).toBeGreaterThan(children.length);
  const texts = inTrace.map((s) => s.attributes["db.query.text"]).filter((text) => text !== undefined);
  expect(texts.length).toBeGreaterThan(0);
  expect(JSON.stringify(texts)).not.toContain(session!.id);
});

test("a REST call joins the trace too; a client's error leaves the span's status unset", async () => {
  const res = await restCall(t.baseUrl, "GET", "/v1/files/traced/missing.bin", undefined, { traceparent });
  expect(res.status).toBe(404);
  const server = spans().find((s) => s.name === "files.v1.FilesService/GetFile");
  expect(server).toBeDefined();
  expect(parentOf(server!)).toBe(clientSpanId);
  expect(server!.attributes).toMatchObject({ "files.protocol": "rest", "rpc.grpc.status_code": 5 });
  expect(server!.status.code).toBe(0); // UNSET: not found is the client's business
});

test("without a traceparent a call starts a trace of its own", async () => {
  const files = createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl }));
  await files.listBuckets({});
  const server = spans().find((s) => s.name === "files.v1.FilesService/ListBuckets");
  expect(server).toBeDefined();
  expect(parentOf(server!)).toBeUndefined();
  expect(server!.spanContext().traceId).not.toBe(traceId);
});

test("the server process with OTEL_EXPORTER_OTLP_ENDPOINT sends its spans there by OTLP/HTTP", async () => {
  const received: { path: string; body: string }[] = [];
  const collector = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on("data", (chunk: Buffer) => parts.push(chunk));
    req.on("end", () => {
      received.push({ path: req.url ?? "", body: Buffer.concat(parts).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  const { port } = collector.address() as { port: number };
  const db = await createTestDatabase();
  const blobDir = await mkdtemp(path.join(tmpdir(), "files-otlp-"));
  const server = await startServerProcess({
    DATABASE_URL: db.url,
    DATABASE_SCHEMA: db.schema,
    BLOB_DIR: blobDir,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_SERVICE_NAME: "files-under-test",
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
  try {
    const files = createClient(
      FilesService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}`, interceptors: [withTraceparent] }),
    );
    await files.listBuckets({});
    await eventually(() => received.some((r) => r.body.includes("ListBuckets")), 10_000, "the span is exported");
    const batch = received.find((r) => r.body.includes("ListBuckets"))!;
    expect(batch.path).toBe("/v1/traces");
    expect(batch.body).toContain("files-under-test");
    // OTLP/JSON writes ids in hex: the server span is in the client's trace.
    expect(batch.body).toContain(traceId);
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    await new Promise((resolve) => collector.close(resolve));
    await db.drop();
    await rm(blobDir, { recursive: true, force: true });
  }
}, 30_000);
