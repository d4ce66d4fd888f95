/**
 * The baseline of the metadata rows and of `npm run load`'s burst: a FilesService whose GetFile
 * answers one fixed File (bench/constant-file.ts) and whose CreateUploadSession answers a session
 * made from the request alone, served by connect-node's own adapter on a plain Node server
 * (`node dist/bench/constant-files-server.js`, HTTP/1.1; with `h2c`, cleartext HTTP/2 for gRPC).
 * What is left is the cost of Connect itself — routing, decoding and encoding — with no database,
 * no authorization, no transcoder and no interceptors. It announces its port with the service's own
 * "listening" log line.
 */
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import { FilesService } from "../gen/files/v1/files_pb.js";
import { constantFile } from "./constant-file.js";

const adapter = connectNodeAdapter({
  routes: (router) =>
    router.service(FilesService, {
      getFile: () => ({ file: constantFile }),
      createUploadSession: (req) => {
        const id = randomUUID();
        const { bucket, key, mimeType, size } = req;
        const expiresAt = BigInt(Math.floor(Date.now() / 1000) + 86_400);
        const url = `http://127.0.0.1:8321/v1/files/session:${id}`;
        return { session: { id, url, offset: 0n, size, bucket, key, mimeType, expiresAt } };
      },
    }),
});
const server = process.argv[2] === "h2c" ? http2.createServer(adapter) : http.createServer(adapter);
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ message: "listening", url: `http://127.0.0.1:${port}` })}\n`);
});
