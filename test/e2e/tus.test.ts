/**
 * tus 1.0 with the real tus-js-client (its Node build) against the service as a real process: an
 * upload in chunks becomes a file with its SHA-256, an upload aborted midway resumes from the
 * offset the server kept, per-request checksums keep nothing of a corrupted chunk, termination
 * cancels the session, and a tus upload is the same session GetUploadSession shows. The protocol's
 * own refusals are checked with plain requests.
 */
import { createHash } from "node:crypto";
import http2 from "node:http2";
import * as tus from "tus-js-client";
import type { TestDatabase } from "../support/database.js";
import { type KeyedServer, startKeyedServer } from "../support/server-process.js";
import { content, sha256 } from "../support/uploads.js";

const KiB = 1024;
const apiKey = "tus-test-key-0123456789abcdef";
let keyed: KeyedServer;
let db: TestDatabase;
let endpoint: string;
let base: string;

beforeAll(async () => {
  keyed = await startKeyedServer("tus", apiKey);
  db = keyed.db;
  base = keyed.baseUrl;
  endpoint = `${base}/tus/`;
}, 30_000);
afterAll(() => keyed?.stop());

const auth = { authorization: `Bearer ${apiKey}` };

/** A tus upload of `data` to bucket/key, with the test's key; resolves with its URL once done. */
function upload(
  data: Buffer,
  key: string,
  options: Partial<tus.UploadOptions> = {},
): { done: Promise<string>; upload: tus.Upload } {
  let resolveDone: (url: string) => void;
  let rejectDone: (err: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const u: tus.Upload = new tus.Upload(data, {
    endpoint,
    headers: auth,
    chunkSize: 64 * KiB,
    retryDelays: [],
    metadata: { bucket: "tus", filename: key, filetype: "text/plain" },
    ...options,
    onSuccess: () => resolveDone(u.url!),
    onError: (err) => rejectDone(err),
  });
  u.start();
  return { done, upload: u };
}

async function rest(pathname: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${pathname}`, { ...init, headers: { ...auth, ...init.headers } });
  return { status: res.status, headers: res.headers, json: res.status === 200 ? await res.json() : await res.text() };
}

/** Starts an upload of `data` and aborts it once `bytes` were accepted; resolves with its URL once the abort is done. */
async function abortedAfter(data: Buffer, key: string, bytes: number): Promise<string> {
  let aborted: Promise<void> | undefined;
  const started = upload(data, key, {
    onChunkComplete: (_size, accepted) => {
      if (accepted >= bytes && !aborted) aborted = started.upload.abort();
    },
  });
  started.done.catch(() => undefined);
  while (!aborted) await new Promise((r) => setTimeout(r, 5));
  await aborted;
  return started.upload.url!;
}

const sessionId = (url: string) => url.slice(url.lastIndexOf("/") + 1);
const statusOf = (err: unknown) => (err as tus.DetailedError).originalResponse?.getStatus();

test("tus-js-client uploads in chunks: the file is visible with its SHA-256 and type, and the tus upload is the session", async () => {
  const data = content(300 * KiB + 7);
  const { done } = upload(data, "docs/chunked.txt");
  const url = await done;
  expect(url).toMatch(new RegExp(`^${endpoint}[0-9a-f-]{36}$`));
  const file = await rest("/v1/files/tus/docs/chunked.txt");
  expect(file.json).toMatchObject({ bytes: data.length, sha256: sha256(data), mime_type: "text/plain" });
  const session = await rest(`/v1/files/session:${sessionId(url)}`);
  expect(session.json).toMatchObject({ id: sessionId(url), offset: data.length, size: data.length, complete: true });
  const body = Buffer.from(
    await (await fetch(`${base}/v1/files/tus/docs/chunked.txt:content`, { headers: auth })).arrayBuffer(),
  );
  expect(body.equals(data)).toBe(true);
});

test("an upload aborted midway resumes from the offset the server kept, and completes whole", async () => {
  const data = content(640 * KiB);
  const url = await abortedAfter(data, "resumed.bin", 192 * KiB);
  const head = await fetch(url, { method: "HEAD", headers: { ...auth, "tus-resumable": "1.0.0" } });
  const kept = Number(head.headers.get("upload-offset"));
  expect(kept).toBeGreaterThanOrEqual(192 * KiB);
  expect(kept).toBeLessThan(data.length);
  expect((await rest("/v1/files/tus/resumed.bin")).status).toBe(404); // nothing half-written is visible

  // A new client that only knows the upload's URL asks for the offset and sends only the rest.
  const offsetsSent: number[] = [];
  const second = upload(data, "resumed.bin", {
    uploadUrl: url,
    onBeforeRequest: (req) => {
      if (req.getMethod() === "PATCH") offsetsSent.push(Number(req.getHeader("Upload-Offset")));
    },
  });
  expect(await second.done).toBe(url);
  expect(offsetsSent[0]).toBeGreaterThanOrEqual(kept); // the abort may have kept a last piece more
  expect((await rest("/v1/files/tus/resumed.bin")).json).toMatchObject({ bytes: data.length, sha256: sha256(data) });
});

describe("checksum extension", () => {
  const chunk = 64 * KiB;
  /** Sends each PATCH with the checksum of its chunk, computed from the source at its offset. */
  const withChecksum = (data: Buffer, algorithm: string, corruptAt?: number) => (req: tus.HttpRequest) => {
    if (req.getMethod() !== "PATCH") return;
    const at = Number(req.getHeader("Upload-Offset"));
    const digest = createHash(algorithm)
      .update(data.subarray(at, at + chunk))
      .digest();
    if (at === corruptAt) digest[0] ^= 1;
    req.setHeader("Upload-Checksum", `${algorithm} ${digest.toString("base64")}`);
  };

  test.each(["sha256", "sha1", "md5"])("every chunk with its %s checksum: the upload completes", async (algorithm) => {
    const data = content(200 * KiB);
    const { done } = upload(data, `checked-${algorithm}.bin`, { onBeforeRequest: withChecksum(data, algorithm) });
    await done;
    expect((await rest(`/v1/files/tus/checked-${algorithm}.bin`)).json).toMatchObject({ sha256: sha256(data) });
  });

  test("a chunk whose checksum does not match answers 460 and keeps nothing of it; the upload resumes before it", async () => {
    const data = content(200 * KiB);
    const failed = upload(data, "corrupted.bin", {
      onBeforeRequest: withChecksum(data, "sha256", chunk),
      onShouldRetry: () => false,
    });
    const err = await failed.done.catch((e: unknown) => e);
    expect(statusOf(err)).toBe(460);
    const url = failed.upload.url!;
    const head = await fetch(url, { method: "HEAD", headers: { ...auth, "tus-resumable": "1.0.0" } });
    expect(head.headers.get("upload-offset")).toBe(String(chunk)); // the first chunk, and nothing of the second
    const again = upload(data, "corrupted.bin", { uploadUrl: url, onBeforeRequest: withChecksum(data, "sha256") });
    await again.done;
    expect((await rest("/v1/files/tus/corrupted.bin")).json).toMatchObject({ sha256: sha256(data) });
  });
});

test("creation-with-upload: the first request creates the upload and carries its content", async () => {
  const data = content(50 * KiB);
  const requests: string[] = [];
  const { done } = upload(data, "one-request.bin", {
    uploadDataDuringCreation: true,
    chunkSize: Number.POSITIVE_INFINITY,
    onBeforeRequest: (req) => void requests.push(req.getMethod()),
  });
  await done;
  expect(requests).toEqual(["POST"]);
  expect((await rest("/v1/files/tus/one-request.bin")).json).toMatchObject({
    bytes: data.length,
    sha256: sha256(data),
  });
});

test("termination: tus.Upload.terminate cancels the session; its URL and the session are gone", async () => {
  const url = await abortedAfter(content(200 * KiB), "terminated.bin", 64 * KiB);
  await tus.Upload.terminate(url, { headers: auth, retryDelays: [] });
  const head = await fetch(url, { method: "HEAD", headers: { ...auth, "tus-resumable": "1.0.0" } });
  expect(head.status).toBe(404);
  expect((await rest(`/v1/files/session:${sessionId(url)}`)).status).toBe(404);
});

test("without the key, creation is refused with 401 and nothing is created", async () => {
  const { done } = upload(content(10), "no-key.bin", { headers: {} });
  expect(statusOf(await done.catch((e: unknown) => e))).toBe(401);
});

describe("the protocol's own answers", () => {
  const post = (headers: Record<string, string>, body?: Buffer) =>
    fetch(endpoint, { method: "POST", headers: { ...auth, "tus-resumable": "1.0.0", ...headers }, body });
  const meta = `bucket ${Buffer.from("tus").toString("base64")},filename ${Buffer.from("edge.bin").toString("base64")}`;

  test("OPTIONS tells the version, extensions, largest size and checksum algorithms", async () => {
    const res = await fetch(endpoint, { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expect(Object.fromEntries([...res.headers].filter(([k]) => k.startsWith("tus-")))).toEqual({
      "tus-resumable": "1.0.0",
      "tus-version": "1.0.0",
      "tus-extension": "creation,creation-with-upload,termination,expiration,checksum",
      "tus-max-size": expect.stringMatching(/^\d+$/),
      "tus-checksum-algorithm": "sha256,sha1,md5",
    });
  });

  test.each([
    ["no Tus-Resumable", { "tus-resumable": "" }, 412, /Tus-Resumable must be 1.0.0/],
    ["another version", { "tus-resumable": "0.2.2", "upload-length": "5" }, 412, /Tus-Resumable must be 1.0.0/],
    ["no Upload-Length", {}, 400, /Upload-Length is required/],
    ["a deferred length", { "upload-defer-length": "1" }, 400, /Upload-Defer-Length is not supported/],
    ["a malformed length", { "upload-length": "12abc" }, 400, /Upload-Length must be a non-negative integer/],
    ["malformed metadata", { "upload-length": "5", "upload-metadata": "bucket a b c" }, 400, /malformed pair/],
    ["no bucket", { "upload-length": "5", "upload-metadata": "filename eA==" }, 400, /bucket is required/],
  ])("creation with %s is refused and says why", async (_name, headers, status, said) => {
    const res = await post({ "upload-metadata": meta, ...headers });
    expect([res.status, await res.text()]).toEqual([status, expect.stringMatching(said)]);
    if (status === 412) expect(res.headers.get("tus-version")).toBe("1.0.0");
  });

  test("a PATCH that is not application/offset+octet-stream is 415; a wrong offset 409; both keep nothing", async () => {
    const created = await post({ "upload-length": "10", "upload-metadata": meta });
    expect(created.status).toBe(201);
    expect(new Date(created.headers.get("upload-expires")!).getTime()).toBeGreaterThan(Date.now());
    const url = created.headers.get("location")!;
    const patch = (offset: string, type: string) =>
      fetch(url, {
        method: "PATCH",
        headers: { ...auth, "tus-resumable": "1.0.0", "upload-offset": offset, "content-type": type },
        body: Buffer.from("12345"),
      });
    expect((await patch("0", "application/octet-stream")).status).toBe(415);
    expect((await patch("3", "application/offset+octet-stream")).status).toBe(409);
    const ok = await patch("0", "application/offset+octet-stream");
    expect([ok.status, ok.headers.get("upload-offset")]).toEqual([204, "5"]);
    // POST with X-HTTP-Method-Override: PATCH, as clients behind restrictive proxies send it.
    const overridden = await fetch(url, {
      method: "POST",
      headers: {
        ...auth,
        "tus-resumable": "1.0.0",
        "x-http-method-override": "PATCH",
        "upload-offset": "5",
        "content-type": "application/offset+octet-stream",
      },
      body: Buffer.from("67890"),
    });
    expect([overridden.status, overridden.headers.get("upload-offset")]).toEqual([204, "10"]);
    expect((await rest("/v1/files/tus/edge.bin")).json).toMatchObject({
      bytes: 10,
      sha256: sha256(Buffer.from("1234567890")),
    });
  });

  test("HEAD tells the offset, length and metadata, and forbids caching", async () => {
    const created = await post({ "upload-length": "10", "upload-metadata": meta });
    const head = await fetch(created.headers.get("location")!, {
      method: "HEAD",
      headers: { ...auth, "tus-resumable": "1.0.0" },
    });
    expect([
      head.status,
      head.headers.get("upload-offset"),
      head.headers.get("upload-length"),
      head.headers.get("cache-control"),
    ]).toEqual([200, "0", "10", "no-store"]);
    expect(head.headers.get("upload-metadata")).toContain(`key ${Buffer.from("edge.bin").toString("base64")}`);
  });
});

test("an empty file: tus-js-client sends only the creation, and the file exists", async () => {
  const { done } = upload(Buffer.alloc(0), "empty.txt");
  await done;
  expect((await rest("/v1/files/tus/empty.txt")).json).toMatchObject({ bytes: 0, sha256: sha256(Buffer.alloc(0)) });
});

test("over h2c: a creation without a body creates the upload (no body is expected), and a PATCH completes it", async () => {
  const session = http2.connect(base);
  const request = (headers: http2.OutgoingHttpHeaders, body?: Buffer) =>
    new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const stream = session.request({ ...auth, "tus-resumable": "1.0.0", ...headers }, { endStream: !body });
      stream.on("response", resolve).on("error", reject);
      stream.resume();
      if (body) stream.end(body);
    });
  try {
    const meta = `bucket ${Buffer.from("tus").toString("base64")},filename ${Buffer.from("h2c.bin").toString("base64")}`;
    const created = await request({
      ":method": "POST",
      ":path": "/tus/",
      "upload-length": "5",
      "upload-metadata": meta,
    });
    expect(created[":status"]).toBe(201);
    const path = new URL(String(created.location)).pathname;
    const patched = await request(
      { ":method": "PATCH", ":path": path, "upload-offset": "0", "content-type": "application/offset+octet-stream" },
      Buffer.from("hello"),
    );
    expect([patched[":status"], patched["upload-offset"]]).toEqual([204, "5"]);
  } finally {
    session.close();
  }
  expect((await rest("/v1/files/tus/h2c.bin")).json).toMatchObject({ sha256: sha256(Buffer.from("hello")) });
});

test("a creation whose first bytes are refused before anything is read leaves no session behind", async () => {
  const before = await db.sql`select count(*)::int as n from upload_sessions`;
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      ...auth,
      "tus-resumable": "1.0.0",
      "upload-length": "5",
      "upload-metadata": `bucket ${Buffer.from("tus").toString("base64")},filename eA==`,
      "content-type": "text/plain",
    },
    body: Buffer.from("hello"),
  });
  expect(res.status).toBe(415);
  expect(await db.sql`select count(*)::int as n from upload_sessions`).toEqual(before);
});
