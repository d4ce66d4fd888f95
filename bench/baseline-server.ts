/**
 * The byte rows' baseline: the least a file server can do, in plain Node http.
 *
 *   POST /          streams the body into a new file and fsyncs it before answering its name
 *   GET /<name>     streams that file back with fs.createReadStream, in 1 MiB reads
 *
 * No protocol, no metadata, no hashing, no authorization. Run as its own process, compiled by the
 * bench (`node dist/bench/baseline-server.js <dir>`), so that its memory is measured like the
 * service's; it announces its port with the service's own "listening" log line.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";

const dir = process.argv[2];
const readBytes = 1024 * 1024;
let uploads = 0;

async function receive(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const name = `upload-${uploads++}`;
  await pipeline(req, createWriteStream(path.join(dir, name), { flush: true })); // `flush: true` fsyncs before the stream closes
  res.setHeader("content-type", "application/json").end(JSON.stringify({ name }));
}

async function send(name: string, res: http.ServerResponse): Promise<void> {
  const file = path.join(dir, name);
  const { size } = await stat(file);
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
  // 1 MiB reads, as the service's blob store reads: with the default 64 KiB the baseline makes 16
  // times the reads and writes and runs at about half the rate, so the service would "beat" it
  // and the ratio would say nothing about the protocol layers on top.
  await pipeline(createReadStream(file, { highWaterMark: readBytes }), res);
}

const server = http.createServer((req, res) => {
  const name = req.url!.slice(1);
  const served =
    req.method === "POST"
      ? receive(req, res)
      : req.method === "GET" && /^upload-\d+$/.test(name)
        ? send(name, res)
        : Promise.reject(new Error(`no route for ${req.method} ${req.url}`));
  served.catch((err: unknown) => {
    if (res.headersSent) return void res.destroy();
    res.statusCode = 500;
    res.end(String(err));
  });
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ message: "listening", url: `http://127.0.0.1:${port}` })}\n`);
});
