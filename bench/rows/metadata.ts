/**
 * Metadata rows: GetFile of one small file under autocannon (`--connections` keep-alive
 * connections, HTTP/1.1), for `--seconds` after a warm-up of a fifth of that. Every row first
 * checks one answer names the file, and fails if any request of the run errs or answers non-2xx.
 */
import autocannon from "autocannon";
import { constantFile } from "../constant-file.js";
import { createBenchContent } from "../content.js";
import { request } from "../http-client.js";
import { observeServer, startHelper, type ServerProcess } from "../processes.js";
import { withServer, type BenchContext, type BenchRow, type Measurement } from "./row.js";
import { benchBucket, storeFile } from "./service-calls.js";

const key = "metadata.bin";

/** One request, as autocannon sends it again and again. */
interface MetadataRequest {
  path: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** The file's sha256 in the answer's JSON. */
  sha256(answer: unknown): unknown;
}

/** GetFile over the Connect protocol, JSON over HTTP/1.1. */
const connectGetFile: MetadataRequest = {
  path: "/files.v1.FilesService/GetFile",
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ bucket: benchBucket, key }),
  sha256: (answer) => (answer as { file?: { sha256?: string } }).file?.sha256,
};

/** Checks one answer, warms up, then measures requests/s and latency observing what the server uses meanwhile. */
async function measureRequests(
  server: ServerProcess,
  { options }: BenchContext,
  call: MetadataRequest,
  expectedSha256: string,
): Promise<Measurement> {
  const url = `${server.baseUrl}${call.path}`;
  const first = await request(url, call.method, call.headers, call.body);
  const sha256 = first.status === 200 ? call.sha256(JSON.parse(first.text)) : undefined;
  if (sha256 !== expectedSha256)
    throw new Error(
      `${call.method} ${call.path} answered ${first.status} ${first.text}, expected the file with sha256 ${expectedSha256}`,
    );

  const load = (seconds: number) =>
    autocannon({
      url,
      method: call.method,
      headers: call.headers,
      body: call.body,
      connections: options.connections,
      duration: seconds,
    });
  await load(Math.max(1, Math.round(options.seconds / 5)));
  const { result, server: use, clientCpuSeconds } = await observeServer(server.pid, () => load(options.seconds));
  if (result.errors > 0 || result.non2xx > 0)
    throw new Error(
      `${call.path}: ${result.errors} errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx answers`,
    );
  return {
    rate: result["2xx"] / result.duration,
    seconds: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    server: use,
    clientCpuSeconds,
  };
}

const constant: BenchRow = {
  id: "metadata/constant",
  group: "metadata",
  label: "GetFile: constant Connect handler (no database)",
  baseline: true,
  run: (context) =>
    withServer(startHelper("constant-files-server"), (server) =>
      measureRequests(server, context, connectGetFile, constantFile.sha256),
    ),
};

/** A row against the service: stores a small file first, then measures `call` of it. */
function serviceRow(id: string, label: string, call: MetadataRequest): BenchRow {
  return {
    id,
    group: "metadata",
    label,
    baseline: false,
    run: (context) =>
      withServer(context.startService(), async (server) => {
        const file = createBenchContent(1024, 1024);
        await storeFile(server, key, file);
        return measureRequests(server, context, call, file.sha256);
      }),
  };
}

const connect = serviceRow("metadata/connect", "GetFile: Connect JSON (HTTP/1.1)", connectGetFile);
const rest = serviceRow("metadata/rest", "GetFile: REST GET /v1/files/{bucket}/{key}", {
  path: `/v1/files/${benchBucket}/${key}`,
  method: "GET",
  sha256: (answer) => (answer as { sha256?: string }).sha256,
});

/** The metadata rows, baseline first. */
export const metadataRows: BenchRow[] = [constant, connect, rest];
