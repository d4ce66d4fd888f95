/**
 * The script of the page the browser test serves from another origin (bundled by esbuild for the
 * browser): connect-web over its Connect and gRPC-Web transports, an upload with fetch to the
 * session's url, and a resumable upload with tus-js-client (its browser build), as a browser
 * application would do them. Its outcome is left in `results`.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import * as tus from "tus-js-client";
import { FilesService } from "../../../gen/files/v1/files_pb.js";

// The page's own URL says where the API is and which key to use.
const page = globalThis as unknown as { location: { search: string }; results?: Promise<unknown> };
const params = new URLSearchParams(page.location.search);
const api = params.get("api") ?? "";
const authorization = `Bearer ${params.get("key") ?? ""}`;

async function run(name: string, transport: Transport) {
  const files = createClient(FilesService, transport);
  const headers = { authorization };
  const key = `${name}.txt`;
  const content = new TextEncoder().encode(`hello from ${name} in a browser`);
  const { session } = await files.createUploadSession(
    { bucket: "browser", key, mimeType: "text/plain", size: BigInt(content.length) },
    { headers },
  );
  // Browsers cannot send a client stream: the content goes with fetch to the session's url.
  const upload = await fetch(session!.url, {
    method: "POST",
    headers: { authorization, "upload-offset": "0" },
    body: content,
  });
  const { file } = await files.getFile({ bucket: "browser", key }, { headers });
  const buckets = await files.listBuckets({}, { headers });
  let downloaded = "";
  for await (const part of files.downloadFile({ bucket: "browser", key }, { headers }))
    if (part.part.case === "data") downloaded += new TextDecoder().decode(part.part.value);
  return {
    uploadStatus: upload.status,
    uploadOffset: upload.headers.get("upload-offset"),
    bytes: Number(file!.bytes),
    buckets: buckets.data.map((b) => b.name),
    downloaded,
  };
}

/** A Blob uploaded with tus-js-client in chunks; then the file's SHA-256 compared with the browser's own. */
async function runTus() {
  const bytes = crypto.getRandomValues(new Uint8Array(50_000));
  const url = await new Promise<string>((resolve, reject) => {
    const upload: tus.Upload = new tus.Upload(new Blob([bytes]), {
      endpoint: `${api}/tus/`,
      headers: { authorization },
      chunkSize: 16 * 1024,
      retryDelays: [],
      metadata: { bucket: "browser", filename: "tus.bin", filetype: "application/octet-stream" },
      onSuccess: () => resolve(upload.url!),
      onError: reject,
    });
    upload.start();
  });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const files = createClient(FilesService, createConnectTransport({ baseUrl: api }));
  const { file } = await files.getFile({ bucket: "browser", key: "tus.bin" }, { headers: { authorization } });
  return { url, bytes: Number(file!.bytes), sameSha256: file!.sha256 === sha256 };
}

page.results = Promise.all([
  run("connect", createConnectTransport({ baseUrl: api })),
  run("grpc-web", createGrpcWebTransport({ baseUrl: api })),
])
  .then(async (runs) => ({ runs, tus: await runTus() }))
  .then(
    ({ runs, tus }) => ({ ok: true, runs, tus }),
    (err: unknown) => ({ ok: false, error: String(err) }),
  );
