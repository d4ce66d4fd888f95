/**
 * Bad input, generated (fast-check) rather than imagined: names, sizes, offsets, page tokens, mime
 * types, malformed protobuf and JSON, truncated and oversized bodies. Whatever comes in, the answer
 * is the right code with a message (a 4xx on HTTP), never an internal error, and a refused request
 * changes nothing. The expected outcome comes from the contract's rules (docs/rest-api.md),
 * written here independently of src/files/request-validation.ts.
 */
import fc from "fast-check";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import http from "node:http";
import http2 from "node:http2";
import type { FilesService } from "../../gen/files/v1/files_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, eventually, uploadFile } from "../support/uploads.js";

const MiB = 1024 * 1024;
let t: TestApp;
let files: Client<typeof FilesService>;
const tried: Record<string, number> = {};

beforeAll(async () => {
  t = await startTestApp({ "max-file-size": "1MiB", "max-message-bytes": "320KiB" });
  files = t.client("grpc (HTTP/2)");
  await uploadFile(files, "listed", "a/b.txt", content(10));
});
afterAll(async () => {
  console.log(`bad inputs tried: ${JSON.stringify(tried)}`);
  await t?.close();
});

// The contract's rules, from the text of docs/rest-api.md.
const bucketOk = (b: string) => /^[a-zA-Z0-9_-]{1,63}$/.test(b);
const keyOk = (k: string) =>
  /^[a-zA-Z0-9_\-/.]{1,1024}$/.test(k) && k.split("/").every((s) => s !== "" && s !== "." && s !== "..");

/** Rows in the tables: a refused request must leave them as they were. */
async function state(): Promise<string> {
  const [s] = await t.db
    .sql`select count(*)::int as sessions, coalesce(sum(committed_offset), 0)::int as committed from upload_sessions`;
  const [f] = await t.db.sql`select count(*)::int as files, coalesce(sum(bytes), 0)::int as bytes from files`;
  return JSON.stringify({ ...s, ...f });
}

async function outcome(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === Code.Internal || e.code === Code.Unknown)
      throw new Error(`internal error for bad input: ${e.message}`);
    expect(e.rawMessage.length).toBeGreaterThan(5);
    return e.code;
  }
}

const nastyNames = fc.constantFrom(
  "..",
  ".",
  "a/../b",
  "../etc/passwd",
  "a\u0000b",
  "ｂucket",
  "bucketа",
  "a//b",
  "/a",
  "a/",
  "a b",
  "x".repeat(1025),
  "b".repeat(64),
  "%2e%2e",
  "a\\b",
  "",
  "*",
  "a:b",
);
const nameChars = fc.constantFrom(..."abcXYZ019_-./".split(""));
const names = fc.oneof(
  nastyNames,
  fc.string({ minLength: 0, maxLength: 70 }),
  fc.fullUnicodeString({ maxLength: 20 }),
  fc.stringOf(nameChars, { minLength: 1, maxLength: 40 }),
);

test("names: the contract's valid ones are accepted, every other refused with invalid_argument, nothing kept", async () => {
  await fc.assert(
    fc.asyncProperty(names, names, async (bucket, key) => {
      tried.names = (tried.names ?? 0) + 1;
      const before = await state();
      const got = await outcome(
        files
          .createUploadSession({ bucket, key, size: 1n })
          .then((r) => files.cancelUploadSession({ uploadId: r.session!.id })),
      );
      expect(got).toBe(bucketOk(bucket) && keyOk(key) ? "ok" : Code.InvalidArgument);
      expect(await state()).toBe(before);
    }),
    { numRuns: 300 },
  );
});

test("reads with any name answer invalid_argument or not_found, never more", async () => {
  await fc.assert(
    fc.asyncProperty(names, names, async (bucket, key) => {
      tried.reads = (tried.reads ?? 0) + 1;
      const valid = bucketOk(bucket) && keyOk(key);
      expect(await outcome(files.getFile({ bucket, key }))).toBe(valid ? Code.NotFound : Code.InvalidArgument);
      expect(await outcome(files.deleteFile({ bucket, key }))).toBe(valid ? Code.NotFound : Code.InvalidArgument);
    }),
    { numRuns: 200 },
  );
});

test("sizes, mime types and promised checksums", async () => {
  // The contract: 64 hex digits, or none. A mime type is type/subtype (RFC 6838), with parameters;
  // these are the cases that are surely good or surely bad whatever the finer rules.
  const shaOk = (s: string) => s === "" || /^[0-9a-fA-F]{64}$/.test(s);
  const mimeSurelyGood = (m: string) => ["", "image/jpeg", "text/plain; charset=utf-8", "a/b"].includes(m);
  const mimeSurelyBad = (m: string) =>
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what makes a mime type bad.
    m !== "" && (!/^[^/]+\/[^/]+$/.test(m) || /[\x00-\x1f\x7f]/.test(m) || m.length > 255);
  const mime = fc.oneof(
    fc.constantFrom(
      "",
      "image/jpeg",
      "text/plain; charset=utf-8",
      "a/b",
      "nope",
      "/",
      "text/",
      "x".repeat(300),
      "text/plain\r\nX: y",
    ),
    fc.string({ maxLength: 40 }),
  );
  const sha = fc.oneof(fc.constant(""), fc.hexaString({ minLength: 64, maxLength: 64 }), fc.string({ maxLength: 70 }));
  await fc.assert(
    fc.asyncProperty(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), mime, sha, async (size, mimeType, sha256) => {
      tried.sizes = (tried.sizes ?? 0) + 1;
      const before = await state();
      const got = await outcome(
        files
          .createUploadSession({ bucket: "b", key: "k", size, mimeType, sha256 })
          .then((r) => files.cancelUploadSession({ uploadId: r.session!.id })),
      );
      const invalid = size < 0n || !shaOk(sha256) || mimeSurelyBad(mimeType);
      const tooLarge = size > BigInt(MiB);
      if (invalid && !tooLarge) expect(got).toBe(Code.InvalidArgument); // both: either refusal, below
      if (!invalid && tooLarge && mimeSurelyGood(mimeType)) expect(got).toBe(Code.ResourceExhausted);
      if (!invalid && !tooLarge && mimeSurelyGood(mimeType)) expect(got).toBe("ok");
      if (got === "ok") expect(invalid || tooLarge).toBe(false);
      else expect([Code.InvalidArgument, Code.ResourceExhausted]).toContain(got);
      expect(await state()).toBe(before);
    }),
    { numRuns: 300 },
  );
});

test("offsets: a precondition that is not the committed offset is refused and keeps nothing", async () => {
  const { session } = await files.createUploadSession({ bucket: "offsets", key: "o.bin", size: 1000n });
  const id = session!.id;
  await files.uploadContent(chunks(id, content(100)));
  await fc.assert(
    // Now and then no precondition at all: then only a length past the declared size is refused.
    fc.asyncProperty(
      fc.option(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), { nil: undefined, freq: 5 }),
      fc.integer({ min: 0, max: 2000 }),
      async (precondition, length) => {
        tried.offsets = (tried.offsets ?? 0) + 1;
        fc.pre(precondition !== 100n);
        // Exactly the 900 bytes left, sent without a precondition, would rightly complete the file.
        fc.pre(precondition !== undefined || length !== 900);
        const got = await outcome(files.uploadContent(chunks(id, content(length), 64, precondition)));
        // A wrong precondition is refused whatever follows; without one, a length past the declared
        // size is. Either way nothing may be kept.
        expect(got).toBe(precondition !== undefined ? Code.Aborted : length > 900 ? Code.OutOfRange : "ok");
        const now = (await files.getUploadSession({ uploadId: id })).session!.offset;
        expect(now).toBe(got === "ok" ? 100n + BigInt(length) : 100n);
        if (got === "ok")
          await t.db.sql`update upload_sessions set committed_offset = 100 where id = ${id}`.then(() => undefined);
      },
    ),
    { numRuns: 150 },
  );
});

test("page tokens: anything but a token we issued is refused", async () => {
  const tokens = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.base64String({ maxLength: 200 }),
    fc.json().map((j) => Buffer.from(j).toString("base64url")),
  );
  await fc.assert(
    fc.asyncProperty(tokens, fc.integer({ min: -5, max: 5000 }), async (pageToken, pageSize) => {
      tried.pageTokens = (tried.pageTokens ?? 0) + 1;
      const got = await outcome(files.listFiles({ bucket: "listed", pageToken, pageSize }));
      if (pageToken !== "" || pageSize < 0) expect(got).toBe(Code.InvalidArgument);
    }),
    { numRuns: 200 },
  );
});

/** A raw HTTP request; answers the status (or "closed" when the server cut it). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body: Buffer | string,
  end = true,
): Promise<number | "closed"> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port: t.app.port, method, path, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", () => resolve("closed"));
    req.write(body);
    if (end) req.end();
    else setTimeout(() => req.destroy(), 50);
  });
}

test("malformed protobuf and JSON on the Connect and REST faces: 4xx, nothing kept", async () => {
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
    fc.json().map((s) => Buffer.from(s)),
  );
  const targets = fc.constantFrom(
    { path: "/files.v1.FilesService/CreateUploadSession", type: "application/proto" },
    { path: "/files.v1.FilesService/CreateUploadSession", type: "application/json" },
    { path: "/files.v1.FilesService/ListFiles", type: "application/json" },
    { path: "/files.v1.FilesService/UploadContent", type: "application/connect+proto" },
    { path: "/files.v1.FilesService/UploadContent", type: "application/connect+json" },
    { path: "/v1/files", type: "application/json" },
    { path: "/v1/files", type: "application/x-www-form-urlencoded" },
  );
  await fc.assert(
    fc.asyncProperty(targets, garbage, async (target, body) => {
      tried.malformed = (tried.malformed ?? 0) + 1;
      const before = await state();
      const status = await raw(
        "POST",
        target.path,
        { "content-type": target.type, "connect-protocol-version": "1" },
        body,
      );
      // The Connect streaming protocol answers errors inside a 200 response: read as "not 5xx".
      expect(status === "closed" || status < 500).toBe(true);
      expect(await state()).toBe(before);
    }),
    { numRuns: 300 },
  );
});

/** Posts bytes over HTTP/2 with gRPC framing; answers the grpc-status. */
function grpcStatus(path: string, message: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(t.baseUrl);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let status = "";
    stream.on("response", (h) => (status = String(h["grpc-status"] ?? status)));
    stream.on("trailers", (h) => (status = String(h["grpc-status"] ?? status)));
    stream.on("data", () => undefined);
    stream.on("end", () => {
      session.close();
      resolve(status);
    });
    stream.on("error", reject);
    stream.end(frame);
  });
}

test("a request message that does not parse is invalid_argument on every protocol, not internal", async () => {
  const garbage = Buffer.from([0x7b, 0x7d, 0xff]);
  expect(
    await raw("POST", "/files.v1.FilesService/CreateUploadSession", { "content-type": "application/proto" }, garbage),
  ).toBe(400);
  expect(await grpcStatus("/files.v1.FilesService/CreateUploadSession", garbage)).toBe(String(Code.InvalidArgument));
  expect(await grpcStatus("/files.v1.FilesService/UploadContent", garbage)).toBe(String(Code.InvalidArgument));
  expect(await grpcStatus("/files.v1.FilesService/DownloadFile", garbage)).toBe(String(Code.InvalidArgument));
});

test("any path and query on the REST face: never a 5xx", async () => {
  const segment = fc.oneof(
    fc.webSegment(),
    fc.constantFrom("%00", "%2F", "%2e%2e", "session:", "session:%zz", ":content", "..", "%E0%A4%A"),
  );
  const path = fc.array(segment, { minLength: 0, maxLength: 5 }).map((s) => `/v1/files/${s.join("/")}`);
  const query = fc.webQueryParameters();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "POST", "DELETE", "PUT", "HEAD", "PATCH"),
      path,
      query,
      async (method, p, q) => {
        tried.paths = (tried.paths ?? 0) + 1;
        const before = await state();
        const status = await raw(method, q ? `${p}?${q}` : p, {}, "");
        expect(status === "closed" || status < 500).toBe(true);
        if (method !== "POST") expect(await state()).toBe(before);
      },
    ),
    { numRuns: 300 },
  );
});

test("truncated bodies: a create cut off before its announced length changes nothing", async () => {
  // Valid JSON and then padding: a cut in the padding leaves a body that would parse, so only
  // honouring Content-Length refuses it.
  const body = JSON.stringify({ bucket: "t", key: "k", size: 5 }) + " ".repeat(20);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: body.length - 1 }), async (cut) => {
      tried.truncated = (tried.truncated ?? 0) + 1;
      const before = await state();
      await raw(
        "POST",
        "/v1/files",
        { "content-length": body.length, "content-type": "application/json" },
        body.slice(0, cut),
        false,
      );
      await eventually(() => t.app.runningHandlers() === 0);
      expect(await state()).toBe(before);
    }),
    { numRuns: 40 },
  );
});

test("oversized: a JSON body or an upload message over the limits is refused whole", async () => {
  const before = await state();
  expect(
    await raw(
      "POST",
      "/v1/files",
      {},
      JSON.stringify({ bucket: "b", key: "k", size: 1, mime_type: "x".repeat(330 * 1024) }),
    ),
  ).toBe(413);
  const { session } = await files.createUploadSession({ bucket: "b", key: "big", size: 10n });
  expect(await outcome(files.uploadContent(chunks(session!.id, content(330 * 1024), 330 * 1024)))).toBe(
    Code.ResourceExhausted,
  );
  expect((await files.getUploadSession({ uploadId: session!.id })).session?.offset).toBe(0n);
  await files.cancelUploadSession({ uploadId: session!.id });
  expect(await state()).toBe(before);
});

test("a limit on open sessions: resource_exhausted beyond it, 429 on REST", async () => {
  const small = await startTestApp({ "max-open-sessions": "3" });
  try {
    const c = small.client("connect (HTTP/1.1)");
    for (let i = 0; i < 3; i++) await c.createUploadSession({ bucket: "b", key: `k${i}`, size: 1n });
    expect(await outcome(c.createUploadSession({ bucket: "b", key: "k4", size: 1n }))).toBe(Code.ResourceExhausted);
    const rest = await fetch(`${small.baseUrl}/v1/files`, {
      method: "POST",
      body: JSON.stringify({ bucket: "b", key: "k5", size: 1 }),
    });
    expect(rest.status).toBe(429);
    expect(((await rest.json()) as { message: string }).message).toMatch(/too many open upload sessions \(at most 3\)/);
  } finally {
    await small.close();
  }
});
