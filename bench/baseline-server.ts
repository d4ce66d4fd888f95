/**
 * The benchmark's baseline: the least a file upload server can do — a plain Node http server that
 * streams a request body into a file and fsyncs it before answering. No protocol, no metadata, no
 * hashing. Run as its own process so that its memory is measured like the service's.
 */
import { createWriteStream } from "node:fs";
import http from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";

const dir = process.argv[2];
let n = 0;
const server = http.createServer(async (req, res) => {
  const file = createWriteStream(path.join(dir, `upload-${n++}`), { flush: true });
  try {
    await pipeline(req, file); // `flush: true` fsyncs before the stream closes
    res.end("ok");
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as { port: number }).port }) + "\n");
});
