/**
 * The few calls to the service that several rows make: open a session, upload over REST or a
 * client stream, store a file.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import type { BenchContent } from "../content.js";
import { request, sendContent } from "../http-client.js";
import type { ServerProcess } from "../processes.js";

/** The bucket every row writes to. */
export const benchBucket = "bench";

/** Opens an upload session for `key` over REST, promising the content's sha256; answers its id. */
export async function createSessionOverRest(
  server: ServerProcess,
  key: string,
  content: BenchContent,
): Promise<string> {
  const body = JSON.stringify({
    bucket: benchBucket,
    key,
    mime_type: "application/octet-stream",
    size: content.size,
    sha256: content.sha256,
  });
  const answer = await request(`${server.baseUrl}/v1/files`, "POST", { "content-type": "application/json" }, body);
  if (answer.status !== 200) throw new Error(`POST /v1/files answered ${answer.status}: ${answer.text}`);
  return (JSON.parse(answer.text) as { id: string }).id;
}

/** Uploads `content` to the session as one raw REST body; answers the sha256 of the file it became. */
export async function uploadOverRest(
  server: ServerProcess,
  sessionId: string,
  content: BenchContent,
): Promise<string | undefined> {
  const answer = await sendContent(
    `${server.baseUrl}/v1/files/session:${sessionId}`,
    "POST",
    { "content-type": "application/octet-stream" },
    content,
  );
  if (answer.status !== 200)
    throw new Error(`POST /v1/files/session:${sessionId} answered ${answer.status}: ${answer.text}`);
  return (JSON.parse(answer.text) as { sha256?: string } | null)?.sha256;
}

/** Stores `content` as `bench/<key>` through the service (REST), checking the sha256 it answers. */
export async function storeFile(server: ServerProcess, key: string, content: BenchContent): Promise<void> {
  const sha256 = await uploadOverRest(server, await createSessionOverRest(server, key, content), content);
  if (sha256 !== content.sha256)
    throw new Error(`storing ${key}: the service answered sha256 ${sha256}, expected ${content.sha256}`);
}

/** A FilesService client of `server` over gRPC (HTTP/2) or the Connect protocol (HTTP/1.1). */
export function filesClient(server: ServerProcess, protocol: "grpc" | "connect"): Client<typeof FilesService> {
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl: server.baseUrl })
      : createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" });
  return createClient(FilesService, transport);
}

/**
 * Opens a session for `bench/<key>` and sends `content` over the UploadContent client stream, one
 * message per chunk; answers the sha256 of the file it became.
 */
export async function uploadOverClientStream(
  files: Client<typeof FilesService>,
  key: string,
  content: BenchContent,
): Promise<string | undefined> {
  const { session } = await files.createUploadSession({
    bucket: benchBucket,
    key,
    size: BigInt(content.size),
    sha256: content.sha256,
  });
  const { file } = await files.uploadContent(
    (async function* () {
      let first = true;
      for (const data of content.parts()) {
        yield { uploadId: first ? session!.id : "", data };
        first = false;
      }
    })(),
  );
  return file?.sha256;
}
