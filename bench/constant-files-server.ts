/**
 * The metadata rows' baseline: a FilesService whose GetFile answers one fixed File
 * (bench/constant-file.ts), served by connect-node's own adapter on a plain Node http server
 * (`node dist/bench/constant-files-server.js`). What is left is the cost of Connect itself
 * — routing, JSON decoding and encoding — with no database, no authorization, no transcoder and no
 * interceptors. It announces its port with the service's own "listening" log line.
 */
import { connectNodeAdapter } from "@connectrpc/connect-node";
import http from "node:http";
import { FilesService } from "../gen/files/v1/files_pb.js";
import { constantFile } from "./constant-file.js";

const server = http.createServer(
  connectNodeAdapter({ routes: (router) => router.service(FilesService, { getFile: () => ({ file: constantFile }) }) }),
);
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ message: "listening", url: `http://127.0.0.1:${port}` })}\n`);
});
