/**
 * The REST/JSON face of FilesService end to end, with a plain HTTP client: every command of the
 * contract (docs/rest-api.md) run verbatim with curl, then what a REST user relies on beyond
 * the examples: resumable uploads, Range and cache validators, errors and their statuses.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { sessionLockHolder } from "../support/database.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { restCall } from "../support/rest.js";
import { eventually, sha256 } from "../support/uploads.js";

let t: TestApp;
let base: string;
let cwd: string;

beforeAll(async () => {
  t = await startTestApp({ "checkpoint-bytes": "64KiB", "max-file-size": "1GiB" });
  base = `http://localhost:${t.app.port}`;
  cwd = await mkdtemp(path.join(tmpdir(), "files-curl-"));
});
afterAll(async () => {
  await t?.close();
  await rm(cwd, { recursive: true, force: true });
});

/** Runs a command of the contract as written, against the test server; answers curl's stdout. */
async function curl(command: string, vars: Record<string, string> = {}): Promise<string> {
  let text = command.replaceAll("http://localhost:8321", base);
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`<${name}>`, value);
  const { stdout } = await promisify(execFile)("sh", ["-c", text], { cwd, encoding: "utf8" });
  return stdout;
}

const call = (method: string, target: string, body?: string | Buffer, headers?: Record<string, string>) =>
  restCall(base, method, target, body, headers);

async function createSession(
  bucket: string,
  key: string,
  size: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await call(
    "POST",
    "/v1/files",
    JSON.stringify({ bucket, key, size, mime_type: "application/octet-stream", ...extra }),
  );
  expect(res.status).toBe(200);
  return res.json().id as string;
}

async function upload(bucket: string, key: string, data: Buffer, mimeType = "application/octet-stream") {
  const id = await createSession(bucket, key, data.length, { mime_type: mimeType });
  const res = await call("POST", `/v1/files/session:${id}`, data);
  expect(res.status).toBe(200);
  return res.json();
}

const fileKeys = ["bucket", "key", "mime_type", "url", "bytes", "created_at", "sha256"];

describe("the contract's commands, verbatim", () => {
  const image = randomBytes(12345);
  let sessionId: string;

  test("1. start an upload session", async () => {
    const out = JSON.parse(
      await curl(`curl -X POST http://localhost:8321/v1/files \\
  -d '{"bucket": "images", "key": "image123.jpg", "mime_type": "image/jpeg", "size": 12345}'`),
    );
    sessionId = out.id;
    expect(out).toMatchObject({
      id: expect.any(String),
      url: `${base}/v1/files/session:${out.id}`,
      offset: 0,
      size: 12345,
    });
  });

  test("2. send content to the session: the request that reaches size answers the file", async () => {
    await writeFile(path.join(cwd, "image123.jpg"), image);
    const out = JSON.parse(
      await curl("curl -X POST http://localhost:8321/v1/files/session:<session_id> --data-binary @image123.jpg", {
        session_id: sessionId,
      }),
    );
    expect(Object.keys(out).sort()).toEqual([...fileKeys].sort());
    expect(out).toEqual({
      bucket: "images",
      key: "image123.jpg",
      mime_type: "image/jpeg",
      url: `${base}/v1/files/images/image123.jpg:content`,
      bytes: 12345,
      created_at: expect.any(Number),
      sha256: sha256(image),
    });
    expect(Math.abs(out.created_at - Date.now() / 1000)).toBeLessThan(60);
  });

  test("2. while the upload is incomplete the answer is null; Upload-Offset guards a resume", async () => {
    const id = await createSession("images", "parts.jpg", 12345);
    await writeFile(path.join(cwd, "part1"), image.subarray(0, 1024));
    await writeFile(path.join(cwd, "part2"), image.subarray(1024));
    expect(
      (await curl("curl -X POST http://localhost:8321/v1/files/session:<id> --data-binary @part1", { id })).trim(),
    ).toBe("null");
    const conflict = await curl(
      "curl -s -w ' %{http_code}' -X POST http://localhost:8321/v1/files/session:<id> -H 'Upload-Offset: 0' --data-binary @part2",
      { id },
    );
    expect(conflict).toMatch(/ 409$/);
    expect(JSON.parse(conflict.slice(0, -4))).toEqual({
      code: "aborted",
      message: expect.stringMatching(/resume from offset 1024/),
    });
    const done = JSON.parse(
      await curl(
        "curl -X POST http://localhost:8321/v1/files/session:<id> -H 'Upload-Offset: 1024' --data-binary @part2",
        { id },
      ),
    );
    expect(done.sha256).toBe(sha256(image));
  });

  test("3. read a session", async () => {
    const id = await createSession("images", "half.jpg", 12345);
    await call("POST", `/v1/files/session:${id}`, image.subarray(0, 1024));
    const out = JSON.parse(await curl("curl http://localhost:8321/v1/files/session:<session_id>", { session_id: id }));
    expect(out).toMatchObject({ id, url: `${base}/v1/files/session:${id}`, offset: 1024, size: 12345 });
  });

  test("4. list buckets", async () => {
    await upload("dogs", "shiba.jpg", randomBytes(82334), "image/jpeg");
    await upload("cats", "tabby.jpg", randomBytes(10), "image/jpeg");
    expect(JSON.parse(await curl("curl http://localhost:8321/v1/files"))).toEqual({
      data: [{ name: "cats" }, { name: "dogs" }, { name: "images" }],
    });
  });

  test("5. list the files in a bucket", async () => {
    const out = JSON.parse(await curl("curl http://localhost:8321/v1/files/dogs"));
    expect(out.data).toEqual([
      {
        bucket: "dogs",
        key: "shiba.jpg",
        mime_type: "image/jpeg",
        url: `${base}/v1/files/dogs/shiba.jpg:content`,
        bytes: 82334,
        created_at: expect.any(Number),
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
  });

  test("6. one file's info; 404 if there is none", async () => {
    const out = JSON.parse(await curl("curl http://localhost:8321/v1/files/dogs/shiba.jpg"));
    expect(out).toMatchObject({ bucket: "dogs", key: "shiba.jpg", bytes: 82334 });
    expect(Object.keys(out).sort()).toEqual([...fileKeys].sort());
    expect(await curl("curl -s -o /dev/null -w '%{http_code}' http://localhost:8321/v1/files/dogs/akita.jpg")).toBe(
      "404",
    );
  });

  test("7. download a file's content, with its Content-Type; Range answers 206", async () => {
    await curl("curl -o shiba.jpg http://localhost:8321/v1/files/dogs/shiba.jpg:content");
    const info = (await call("GET", "/v1/files/dogs/shiba.jpg")).json();
    expect(sha256(await readFile(path.join(cwd, "shiba.jpg")))).toBe(info.sha256);
    const headers = await curl("curl -s -D - -o /dev/null http://localhost:8321/v1/files/dogs/shiba.jpg:content");
    expect(headers).toMatch(/^content-type: image\/jpeg\r$/im);
    expect(headers).toMatch(/^content-length: 82334\r$/im);
    const ranged = await curl(
      "curl -s -D - -o /dev/null -r 0-99 http://localhost:8321/v1/files/dogs/shiba.jpg:content",
    );
    expect(ranged).toMatch(/^HTTP\/1.1 206/);
    expect(ranged).toMatch(/^content-range: bytes 0-99\/82334\r$/im);
  });

  test("8. delete a file: answers the file that was deleted; 404 if there was none", async () => {
    const out = JSON.parse(await curl("curl -X DELETE http://localhost:8321/v1/files/dogs/shiba.jpg"));
    expect(out).toMatchObject({ bucket: "dogs", key: "shiba.jpg", bytes: 82334 });
    expect(
      await curl("curl -s -o /dev/null -w '%{http_code}' -X DELETE http://localhost:8321/v1/files/dogs/shiba.jpg"),
    ).toBe("404");
    expect(JSON.parse(await curl("curl http://localhost:8321/v1/files")).data).not.toContainEqual({ name: "dogs" });
  });
});

describe("resumable uploads over REST", () => {
  test("three requests, the second broken off mid-body: the upload resumes from what was committed", async () => {
    const data = randomBytes(600 * 1024);
    const id = await createSession("resume", "three.bin", data.length, { sha256: sha256(data) });
    expect((await call("POST", `/v1/files/session:${id}`, data.subarray(0, 100 * 1024))).text.trim()).toBe("null");

    // Announce 400 KiB, send 320 KiB of them, then drop the connection.
    const req = http.request(`${base}/v1/files/session:${id}`, {
      method: "POST",
      headers: { "content-length": 400 * 1024 },
    });
    req.on("error", () => undefined);
    try {
      req.write(data.subarray(100 * 1024, 420 * 1024));
      // Bytes still in the socket when it is cut would be lost with it: cut only once all that was
      // sent is written (the body's chunks reach the disk as they arrive).
      await eventually(async () => (await t.storedBytes(id)) === 420 * 1024);
    } finally {
      req.destroy();
    }
    // What arrived is committed once the server sees the connection end, the last short piece too.
    await eventually(async () => (await call("GET", `/v1/files/session:${id}`)).json().offset === 420 * 1024);
    expect((await call("GET", "/v1/files/resume/three.bin")).status).toBe(404);
    // The broken request's handler lets go of the session just after it commits.
    await eventually(async () => (await sessionLockHolder(t.db.sql, id)) === undefined);

    const res = await call("POST", `/v1/files/session:${id}`, data.subarray(420 * 1024), {
      "upload-offset": String(420 * 1024),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("upload-offset")).toBe(String(data.length));
    expect(res.json().sha256).toBe(sha256(data));
    const back = await fetch(`${base}/v1/files/resume/three.bin:content`);
    expect(sha256(Buffer.from(await back.arrayBuffer()))).toBe(sha256(data));
  });

  test("each answer tells the committed offset in Upload-Offset, refusals too", async () => {
    const id = await createSession("resume", "offsets.bin", 10);
    expect((await call("POST", `/v1/files/session:${id}`)).headers.get("upload-offset")).toBe("0");
    const res = await call("POST", `/v1/files/session:${id}?offset=0`, Buffer.alloc(4));
    expect(res.headers.get("upload-offset")).toBe("4");
    const conflict = await call("POST", `/v1/files/session:${id}`, Buffer.alloc(2), { "upload-offset": "1" });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("upload-offset")).toBe("4");
    const over = await call("POST", `/v1/files/session:${id}`, Buffer.alloc(7));
    expect(over.status).toBe(413);
    expect(over.headers.get("upload-offset")).toBe("4");
  });

  test("content beyond the declared size: 413, and nothing of that request is kept", async () => {
    const id = await createSession("resume", "over.bin", 100);
    await call("POST", `/v1/files/session:${id}`, Buffer.alloc(40));
    const res = await call("POST", `/v1/files/session:${id}`, Buffer.alloc(61));
    expect(res.status).toBe(413);
    expect(res.json()).toEqual({
      code: "out_of_range",
      message: expect.stringMatching(
        /past the declared size of 100 bytes; nothing of this request was kept: the committed offset is 40/,
      ),
    });
    expect((await call("GET", `/v1/files/session:${id}`)).json().offset).toBe(40);
  });

  test("a second writer on the same session gets 409 while the first streams", async () => {
    const id = await createSession("resume", "race.bin", 2000);
    const slow = http.request(`${base}/v1/files/session:${id}`, {
      method: "POST",
      headers: { "content-length": 2000 },
    });
    const first = new Promise<number>((resolve, reject) =>
      slow
        .on("response", (r) => {
          r.resume();
          resolve(r.statusCode!);
        })
        .on("error", reject),
    );
    slow.write(Buffer.alloc(1000));
    await eventually(async () => (await sessionLockHolder(t.db.sql, id)) !== undefined); // the first writer holds it
    const second = await call("POST", `/v1/files/session:${id}`, Buffer.alloc(1000));
    expect(second.status).toBe(409);
    expect(second.json().message).toMatch(/being written by another request/);
    slow.end(Buffer.alloc(1000));
    expect(await first).toBe(200);
  });

  test("a promised sha256 that the content does not have: 500 data_loss, the file never appears", async () => {
    const id = await createSession("resume", "sum.bin", 3, { sha256: sha256(Buffer.from("abd")) });
    const res = await call("POST", `/v1/files/session:${id}`, "abc");
    expect(res.status).toBe(500);
    expect(res.json().code).toBe("data_loss");
    expect((await call("GET", "/v1/files/resume/sum.bin")).status).toBe(404);
  });

  test("cancel: DELETE on the session", async () => {
    const id = await createSession("resume", "cancel.bin", 3);
    expect((await call("DELETE", `/v1/files/session:${id}`)).json()).toMatchObject({ id, offset: 0 });
    expect((await call("GET", `/v1/files/session:${id}`)).status).toBe(404);
  });
});

describe("downloads", () => {
  const data = randomBytes(5000);
  const url = "/v1/files/dl/a/b/c.txt:content";
  beforeAll(() => upload("dl", "a/b/c.txt", data, "text/plain; charset=utf-8"));

  test("whole content with type, length, ETag and Accept-Ranges", async () => {
    const res = await fetch(base + url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("content-length")).toBe("5000");
    expect(res.headers.get("etag")).toBe(`"${sha256(data)}"`);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  test.each([
    ["bytes=0-0", 0, 1],
    ["bytes=100-199", 100, 200],
    ["bytes=4990-", 4990, 5000],
    ["bytes=-10", 4990, 5000],
    ["bytes=-99999", 0, 5000],
    ["bytes=4000-99999", 4000, 5000],
  ])("Range %s answers 206 with that slice", async (range, start, end) => {
    const res = await fetch(base + url, { headers: { range } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end - 1}/5000`);
    expect(res.headers.get("content-length")).toBe(String(end - start));
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end))).toBe(true);
  });

  test.each(["bytes=5000-", "bytes=9999-10000", "bytes=-0"])(
    "Range %s is unsatisfiable: 416 with the size",
    async (range) => {
      const res = await fetch(base + url, { headers: { range } });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe("bytes */5000");
    },
  );

  test.each(["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=x-"])(
    "Range %s is ignored: the whole content",
    async (range) => {
      const res = await fetch(base + url, { headers: { range } });
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBe(5000);
    },
  );

  test("If-None-Match with the ETag answers 304; another ETag the content", async () => {
    expect((await fetch(base + url, { headers: { "if-none-match": `"${sha256(data)}"` } })).status).toBe(304);
    expect((await fetch(base + url, { headers: { "if-none-match": `W/"${sha256(data)}", "x"` } })).status).toBe(304);
    expect((await fetch(base + url, { headers: { "if-none-match": '"other"' } })).status).toBe(200);
  });

  test("If-Range: the same ETag honours the Range, another one gets the whole content", async () => {
    expect((await fetch(base + url, { headers: { range: "bytes=0-9", "if-range": `"${sha256(data)}"` } })).status).toBe(
      206,
    );
    const stale = await fetch(base + url, { headers: { range: "bytes=0-9", "if-range": '"old"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(5000);
  });

  test("HEAD answers the headers only; offset and limit work as query parameters", async () => {
    const head = await fetch(base + url, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe("5000");
    expect(await head.text()).toBe("");
    const part = await fetch(`${base}${url}?offset=10&limit=5`);
    expect(part.status).toBe(200);
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(10, 15))).toBe(true);
  });

  test("a zero-byte file downloads as an empty 200, and a range of it is unsatisfiable", async () => {
    await upload("dl", "empty.txt", Buffer.alloc(0), "text/plain");
    const res = await fetch(`${base}/v1/files/dl/empty.txt:content`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("0");
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    expect(
      (await fetch(`${base}/v1/files/dl/empty.txt:content`, { method: "HEAD" })).headers.get("content-length"),
    ).toBe("0");
    expect((await fetch(`${base}/v1/files/dl/empty.txt:content`, { headers: { range: "bytes=0-" } })).status).toBe(416);
  });

  test("If-None-Match is checked before the range: 304 even for a range past the end", async () => {
    const etag = `"${sha256(data)}"`;
    expect((await fetch(base + url, { headers: { range: "bytes=9999-", "if-none-match": etag } })).status).toBe(304);
    expect((await fetch(base + url, { headers: { range: "bytes=-10", "if-none-match": etag } })).status).toBe(304);
  });

  test("HEAD, 304 and suffix-range requests leave no handler running behind them", async () => {
    for (let i = 0; i < 20; i++) {
      await fetch(base + url, { method: "HEAD" });
      await fetch(base + url, { headers: { "if-none-match": `"${sha256(data)}"` } });
      await (await fetch(base + url, { headers: { range: "bytes=-10" } })).arrayBuffer();
    }
    await eventually(async () => t.app.runningHandlers() === 0, 2000);
  });

  test("a missing file: 404 JSON", async () => {
    const res = await call("GET", "/v1/files/dl/none.txt:content");
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ code: "not_found", message: "file dl/none.txt not found" });
  });

  test("over HTTP/2 with prior knowledge too", async () => {
    const session = http2.connect(base);
    try {
      const body = await new Promise<{ status: number; data: Buffer }>((resolve, reject) => {
        const stream = session.request({ ":path": url, range: "bytes=1-3" });
        const parts: Buffer[] = [];
        let status = 0;
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", (d: Buffer) => parts.push(d));
        stream.on("end", () => resolve({ status, data: Buffer.concat(parts) }));
        stream.on("error", reject);
      });
      expect(body.status).toBe(206);
      expect(body.data.equals(data.subarray(1, 4))).toBe(true);
    } finally {
      session.close();
    }
  });
});

describe("bad input gets a clear error with the right status", () => {
  test.each([
    [
      "POST",
      "/v1/files",
      '{"bucket": "bad bucket", "key": "k", "size": 1}',
      400,
      "invalid_argument",
      /bucket "bad bucket" is invalid/,
    ],
    [
      "POST",
      "/v1/files",
      '{"bucket": "b", "key": "../etc/passwd", "size": 1}',
      400,
      "invalid_argument",
      /key "..\/etc\/passwd" is invalid/,
    ],
    ["POST", "/v1/files", '{"bucket": "b", "key": "k", "size": -1}', 400, "invalid_argument", /size -1/],
    [
      "POST",
      "/v1/files",
      '{"bucket": "b", "key": "k", "size": 2147483648000}',
      413,
      "resource_exhausted",
      /larger than the maximum file size/,
    ],
    ["POST", "/v1/files", '{"bucket": "b", "key": "k", "size": "x"}', 400, "invalid_argument", /size/],
    [
      "POST",
      "/v1/files",
      '{"bucket": "b", "key": "k", "size": 1, "colour": "red"}',
      400,
      "invalid_argument",
      /unknown field "colour"/,
    ],
    ["POST", "/v1/files", "bucket=b&key=k", 400, "invalid_argument", /not valid JSON/],
    ["GET", "/v1/files/session:not-a-uuid", undefined, 400, "invalid_argument", /not a session id/],
    [
      "GET",
      "/v1/files/session:00000000-0000-4000-8000-000000000000",
      undefined,
      404,
      "not_found",
      /upload session .* not found/,
    ],
    ["POST", "/v1/files/session:00000000-0000-4000-8000-000000000000", "abc", 404, "not_found", /not found/],
    ["GET", "/v1/files/b?page_size=-1", undefined, 400, "invalid_argument", /page_size -1/],
    ["GET", "/v1/files/b?page_token=garbage", undefined, 400, "invalid_argument", /page_token is invalid/],
    ["GET", "/v1/files/b/a%00b", undefined, 400, "invalid_argument", /is invalid/],
    ["PUT", "/v1/files", "{}", 405, "unimplemented", /PUT is not allowed/],
    ["GET", "/v2/files", undefined, 404, "not_found", /no route for GET \/v2\/files/],
  ])("%s %s %s → %i %s", async (method, target, body, status, code, message) => {
    const res = await call(method, target, body);
    expect(res.status).toBe(status);
    expect(res.json()).toEqual({ code, message: expect.stringMatching(message) });
  });

  test("an encoded dot-dot segment reaches key validation decoded, and is refused", async () => {
    // fetch would resolve "%2e%2e" away; http.request sends the path as written.
    const status = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: "127.0.0.1", port: t.app.port, path: "/v1/files/b/%2e%2e/x" }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        })
        .on("error", reject),
    );
    expect(status).toBe(400);
  });

  test("a JSON body larger than the message limit: 413", async () => {
    const res = await call(
      "POST",
      "/v1/files",
      JSON.stringify({ bucket: "b", key: "k", size: 1, mime_type: "x".repeat(5 * 1024 * 1024) }),
    );
    expect(res.status).toBe(413);
  });
});

describe("listing over REST", () => {
  test("pages by page_token; the token comes back as next_page_token", async () => {
    for (const k of ["a", "b", "c"]) await upload("paged", k, Buffer.from(k));
    const first = (await call("GET", "/v1/files/paged?page_size=2")).json();
    expect((first.data as { key: string }[]).map((f) => f.key)).toEqual(["a", "b"]);
    const second = (
      await call("GET", `/v1/files/paged?page_size=2&page_token=${first.next_page_token as string}`)
    ).json();
    expect(second).toMatchObject({ data: [{ key: "c" }], next_page_token: "" });
    expect(((await call("GET", "/v1/files/paged?prefix=b")).json().data as unknown[]).length).toBe(1);
  });

  test("the OpenAPI document is served", async () => {
    const res = await call("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.json().openapi).toBe("3.1.0");
  });
});
