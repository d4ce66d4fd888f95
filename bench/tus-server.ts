/**
 * A reference upload server: @tus/server with @tus/file-store, as its README sets it up, on plain
 * Node http (`node dist/bench/tus-server.js <dir>`). The bench creates an upload with a
 * POST and sends the whole body in one PATCH.
 *
 * What it does not do that the service does: no fsync (the file store's write stream just closes),
 * no hash, no database (its metadata is a JSON file beside the content), no authorization. It
 * announces its port with the service's own "listening" log line.
 */
import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const dir = process.argv[2];
const tus = new Server({ path: "/files", datastore: new FileStore({ directory: dir }) });
const server = tus.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ message: "listening", url: `http://127.0.0.1:${port}` })}\n`);
});
