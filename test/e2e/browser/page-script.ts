/**
 * The script of the page the browser test serves from another origin (bundled by esbuild for the
 * browser): connect-web over its Connect and gRPC-Web transports, and an upload with fetch to the
 * session's url, as a browser application would do it. Its outcome is left in `results`.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
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

page.results = Promise.all([
  run("connect", createConnectTransport({ baseUrl: api })),
  run("grpc-web", createGrpcWebTransport({ baseUrl: api })),
]).then(
  (runs) => ({ ok: true, runs }),
  (err: unknown) => ({ ok: false, error: String(err) }),
);
