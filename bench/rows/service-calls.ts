/**
 * The few REST calls to the service that several rows make: open a session, store a file.
 */
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
