/**
 * HTTP/2 stream hygiene: a response that ends before its request (an error mid-upload) resets the
 * stream, so the client stops sending and nothing stays half-open — a graceful shutdown then has
 * nothing to wait for, instead of sitting out its whole grace period.
 */
import { Code } from "@connectrpc/connect";
import { startTestApp } from "../support/test-app.js";
import { chunks, content } from "../support/uploads.js";

test("an upload refused mid-stream over gRPC leaves no open stream: shutdown is prompt", async () => {
  const t = await startTestApp({ "checkpoint-bytes": "64KiB", "shutdown-grace-seconds": "30" });
  const files = t.client("grpc (HTTP/2)");
  const { session } = await files.createUploadSession({ bucket: "b", key: "over.bin", size: 200n * 1024n });
  // 300 KiB against a declared 200: refused at the fifth message, while the client still sends.
  await expect(files.uploadContent(chunks(session!.id, content(300 * 1024), 50 * 1024))).rejects.toMatchObject({
    code: Code.OutOfRange,
  });
  // The client got its status (from the trailers) and the session still works.
  expect((await files.getUploadSession({ uploadId: session!.id })).session?.offset).toBe(0n);
  const started = Date.now();
  await t.close();
  expect(Date.now() - started).toBeLessThan(5_000);
});
