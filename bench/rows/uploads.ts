/**
 * Upload rows: the same content sent to a fresh server of each kind, timed from the first request
 * (session creation included) to the answer that says the upload is complete.
 */
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { BenchContent } from "../content.js";
import { request, sendContent } from "../http-client.js";
import { startHelper, type ServerProcess } from "../processes.js";
import { measureBytes, withServer, type BenchContext, type BenchRow, type Measurement } from "./row.js";
import { createSessionOverRest, filesClient, uploadOverClientStream, uploadOverRest } from "./service-calls.js";

/** Times `upload` on a started server, observing what the server uses meanwhile. */
function measureUpload(
  server: ServerProcess,
  content: BenchContent,
  upload: () => Promise<void>,
): Promise<Measurement> {
  return measureBytes(server.pid, content.size, upload);
}

/** Reads a file a helper server wrote (after the timing) and checks it holds exactly the content. */
async function checkStoredFile(file: string, content: BenchContent): Promise<void> {
  const verifier = content.verifier();
  for await (const data of createReadStream(file)) verifier.update(data as Buffer);
  verifier.finish();
}

const baseline: BenchRow = {
  id: "upload/baseline",
  group: "upload",
  label: "upload: baseline (http → file + fsync)",
  baseline: true,
  async run({ dir, content }) {
    const store = path.join(dir, "baseline-uploads");
    await mkdir(store, { recursive: true });
    return withServer(startHelper("baseline-server", store), async (server) => {
      let name = "";
      const measurement = await measureUpload(server, content, async () => {
        const answer = await sendContent(`${server.baseUrl}/`, "POST", {}, content);
        if (answer.status !== 200) throw new Error(`baseline answered ${answer.status}: ${answer.text}`);
        name = (JSON.parse(answer.text) as { name: string }).name;
      });
      await checkStoredFile(path.join(store, name), content);
      return measurement;
    });
  },
};

const tusHeaders = { "tus-resumable": "1.0.0" };

/** A tus upload in one PATCH to `endpoint`: answers the upload's id (the last part of its URL). */
async function uploadOverTus(
  server: ServerProcess,
  endpoint: string,
  content: BenchContent,
  headers: Record<string, string> = {},
): Promise<string> {
  const created = await request(`${server.baseUrl}${endpoint}`, "POST", {
    ...tusHeaders,
    ...headers,
    "upload-length": content.size,
  });
  if (created.status !== 201 || !created.headers.location)
    throw new Error(`tus create answered ${created.status}: ${created.text}`);
  const location = new URL(created.headers.location, server.baseUrl);
  const patched = await sendContent(
    location.href,
    "PATCH",
    { ...tusHeaders, "upload-offset": 0, "content-type": "application/offset+octet-stream" },
    content,
  );
  if (patched.status !== 204 || patched.headers["upload-offset"] !== String(content.size)) {
    throw new Error(
      `tus PATCH answered ${patched.status}, Upload-Offset ${patched.headers["upload-offset"]}: ${patched.text}`,
    );
  }
  return path.posix.basename(location.pathname);
}

const tus: BenchRow = {
  id: "upload/tus",
  group: "upload",
  label: "upload: @tus/server + file-store (no fsync, no hash)",
  baseline: false,
  async run({ dir, content }) {
    const store = path.join(dir, "tus-uploads");
    await mkdir(store, { recursive: true });
    return withServer(startHelper("tus-server", store), async (server) => {
      let id = "";
      const measurement = await measureUpload(server, content, async () => {
        id = await uploadOverTus(server, "/files", content);
      });
      await checkStoredFile(path.join(store, id), content);
      return measurement;
    });
  },
};

/** The same tus requests to the service's own /tus/ (durable offsets, SHA-256, a file at the end). */
const serviceTus: BenchRow = {
  id: "upload/service-tus",
  group: "upload",
  label: "upload: the service's tus (HTTP/1.1)",
  baseline: false,
  run: ({ content, startService }) =>
    withServer(startService(), async (server) => {
      await request(`${server.baseUrl}/v1/files`); // warm-up: first request, first database connections
      const metadata = `bucket ${Buffer.from("bench").toString("base64")},key ${Buffer.from("upload-tus.bin").toString("base64")}`;
      const measurement = await measureUpload(server, content, async () => {
        await uploadOverTus(server, "/tus/", content, { "upload-metadata": metadata });
      });
      const file = await request(`${server.baseUrl}/v1/files/bench/upload-tus.bin`);
      const sha256 = (JSON.parse(file.text) as { sha256?: string }).sha256;
      if (sha256 !== content.sha256)
        throw new Error(`tus upload: the service has sha256 ${sha256}, expected ${content.sha256}`);
      return measurement;
    }),
};

const rest: BenchRow = {
  id: "upload/rest",
  group: "upload",
  label: "upload: REST raw body (HTTP/1.1)",
  baseline: false,
  run: ({ content, startService }) =>
    withServer(startService(), async (server) => {
      await request(`${server.baseUrl}/v1/files`); // warm-up: first request, first database connections
      return measureUpload(server, content, async () => {
        const sha256 = await uploadOverRest(
          server,
          await createSessionOverRest(server, "upload-rest.bin", content),
          content,
        );
        if (sha256 !== content.sha256)
          throw new Error(`REST upload: the service answered sha256 ${sha256}, expected ${content.sha256}`);
      });
    }),
};

/** The UploadContent client stream over gRPC (HTTP/2) or the Connect protocol (HTTP/1.1). */
function clientStreamRow(protocol: "grpc" | "connect"): BenchRow {
  return {
    id: `upload/${protocol}`,
    group: "upload",
    label: protocol === "grpc" ? "upload: gRPC client stream (HTTP/2)" : "upload: Connect client stream (HTTP/1.1)",
    baseline: false,
    run: ({ content, startService }: BenchContext) =>
      withServer(startService(), async (server) => {
        const files = filesClient(server, protocol);
        await files.listBuckets({}); // warm-up: first request, first database connections
        return measureUpload(server, content, async () => {
          const sha256 = await uploadOverClientStream(files, `upload-${protocol}.bin`, content);
          if (sha256 !== content.sha256)
            throw new Error(`${protocol} upload: the service answered sha256 ${sha256}, expected ${content.sha256}`);
        });
      }),
  };
}

/** The upload rows, baseline first. */
export const uploadRows: BenchRow[] = [
  baseline,
  tus,
  serviceTus,
  rest,
  clientStreamRow("grpc"),
  clientStreamRow("connect"),
];
