/**
 * Memory stays flat as files grow: a 1 GiB raw REST upload, streamed by a client that never holds
 * more than 1 MiB, must not grow the server's RSS by 64 MiB or more, and no more than a 64 MiB
 * upload grew it. The server runs as its own process so that its RSS is its own; each peak is read
 * from /proc (VmHWM, reset before the upload).
 *
 * The 64 MiB upload goes first and warms the server: a fresh process grows by about 45 MiB on its
 * first large upload whatever its size (V8's young generation expands, and written buffers wait
 * for a GC), which says nothing about how memory scales with the file. Both figures are printed.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

const MiB = 1024 * 1024;
const size = 1024 * MiB;
let db: TestDatabase;
let dir: string;
let server: ServerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "files-memory-"));
  server = await startServerProcess({ DATABASE_URL: db.url, DATABASE_SCHEMA: db.schema, BLOB_DIR: dir });
});
afterAll(async () => {
  server?.child.kill("SIGTERM");
  await server?.exited;
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function rssMiB(field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
}

function post(pathname: string, body: Iterable<Buffer> | string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, method: "POST", path: pathname }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, text }));
    });
    req.on("error", reject);
    if (typeof body === "string") return void req.end(body);
    const parts = body[Symbol.iterator]();
    const pump = () => {
      for (let next = parts.next(); !next.done; next = parts.next())
        if (!req.write(next.value)) return void req.once("drain", pump);
      req.end();
    };
    pump();
  });
}

/** Uploads `bytes` of 0x5a over REST; answers the server's peak RSS growth during the upload. */
async function upload(key: string, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(MiB, 0x5a);
  const body = function* () {
    for (let sent = 0; sent < bytes; sent += MiB) yield chunk;
  };
  const expected = createHash("sha256");
  for (const part of body()) expected.update(part);

  const created = await post("/v1/files", JSON.stringify({ bucket: "memory", key, size: bytes }));
  const { id } = JSON.parse(created.text) as { id: string };
  // Measure from a reset peak, after the session was created over the same HTTP path.
  await writeFile(`/proc/${server.child.pid}/clear_refs`, "5");
  const before = await rssMiB("VmRSS");
  const res = await post(`/v1/files/session:${id}`, body());
  const growth = (await rssMiB("VmHWM")) - before;

  expect(res.status).toBe(200);
  expect(JSON.parse(res.text)).toMatchObject({ bytes, sha256: expected.digest("hex") });
  console.log(
    `${bytes / MiB} MiB REST upload: server RSS ${before.toFixed(0)} MiB before, peak growth ${growth.toFixed(0)} MiB`,
  );
  return growth;
}

test("a 1 GiB REST upload grows the server's RSS by less than 64 MiB, and no more than a 64 MiB upload does", async () => {
  const small = await upload("warm-64-mib.bin", 64 * MiB);
  const large = await upload("one-gib.bin", size);
  expect(large).toBeLessThan(64);
  expect(large).toBeLessThanOrEqual(Math.max(small, 16)); // 16 times the data, no more memory
}, 120_000);
