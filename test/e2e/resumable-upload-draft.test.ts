/**
 * Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload-11, interop version 8) end to
 * end, with requests shaped like the draft's own examples: creation at /resumable/{bucket}/{key}
 * (104 interim answers, Location), offset retrieval (HEAD), append (PATCH with
 * application/partial-upload), cancellation (DELETE), limits (OPTIONS), and the draft's problem
 * types. The upload resource /resumable/session:{id} is the REST session of the same id.
 */
import http from "node:http";
import http2 from "node:http2";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { content, eventually, sha256 } from "../support/uploads.js";

const KiB = 1024;
const bucket = "resumable";
const interop = { "upload-draft-interop-version": "8" };
const problem = "https://iana.org/assignments/http-problem-types#";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "checkpoint-bytes": "64KiB" });
});
afterAll(() => t?.close());

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The 1xx interim responses that came before the final one. */
  infos: http.InformationEvent[];
  body: Buffer;
  json(): Record<string, unknown>;
}

/** One HTTP/1.1 request through node:http, which shows interim responses; the body goes with Content-Length. */
function send(target: string, method: string, headers: Record<string, string | number>, payload?: Buffer) {
  const url = target.startsWith("http") ? target : t.baseUrl + target;
  const withLength =
    payload || method === "POST" || method === "PATCH" ? { "content-length": payload?.length ?? 0 } : {};
  return new Promise<Answer>((resolve, reject) => {
    const infos: http.InformationEvent[] = [];
    const req = http.request(url, { method, headers: { ...withLength, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (chunk: Buffer) => parts.push(chunk));
      res.on("end", () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode!, headers: res.headers, infos, body, json: () => JSON.parse(`${body}`) });
      });
    });
    req.on("information", (info) => infos.push(info));
    req.on("error", reject);
    req.end(payload);
  });
}

const head = (url: string) => send(url, "HEAD", interop);
/** An append as in the draft's examples: application/partial-upload at `offset`, `?1` when it completes. */
function patch(url: string, offset: number, body: Buffer, complete: boolean, extra: Record<string, string> = {}) {
  const headers = { ...interop, "content-type": "application/partial-upload", "upload-offset": offset };
  return send(url, "PATCH", { ...headers, "upload-complete": complete ? "?1" : "?0", ...extra }, body);
}

/** Upload-Limit's dictionary members (RFC 9651), parameters dropped; a bare key is `?1`. */
function limits(field: unknown): Record<string, string> {
  const members = String(field ?? "").split(",");
  const pairs = members.filter((m) => m.trim()).map((m) => m.trim().split(";")[0].split("="));
  return Object.fromEntries(pairs.map(([k, v = "?1"]) => [k, v]));
}

/** The id in an absolute Location `{base}/resumable/session:{id}`. */
function uploadId(location: unknown): string {
  const match = /^(.+)\/resumable\/session:([^/?#]+)$/.exec(String(location));
  expect([location, match?.[1]]).toEqual([location, t.baseUrl]);
  return match![2];
}

function expectProblem(res: Answer, status: number, type: string): Record<string, unknown> {
  const body = res.headers["content-type"]?.startsWith("application/problem+json") ? res.json() : `${res.body}`;
  expect([res.status, body]).toEqual([status, expect.objectContaining({ type: problem + type })]);
  return body as Record<string, unknown>;
}

/** What HEAD must tell (draft: Upload-Offset, Upload-Complete, Upload-Length, Upload-Limit; no-store). */
async function expectState(url: string, offset: number, complete: boolean, length: number) {
  const res = await head(url);
  const h = res.headers;
  const told = [res.status, h["upload-offset"], h["upload-complete"], h["upload-length"]];
  expect(told).toEqual([204, `${offset}`, complete ? "?1" : "?0", `${length}`]);
  expect(h["cache-control"]).toMatch(/\bno-store\b/);
  expect(limits(h["upload-limit"])["max-size"]).toBe(`${t.config.maxFileSize}`);
}

/** The finished file, through the REST face: its info and its bytes. */
async function expectFile(key: string, data: Buffer, mimeType?: string) {
  const info = await restCall(t.baseUrl, "GET", `/v1/files/${bucket}/${key}`);
  const expected = {
    bucket,
    key,
    bytes: data.length,
    sha256: sha256(data),
    ...(mimeType ? { mime_type: mimeType } : {}),
  };
  expect([info.status, info.json()]).toEqual([200, expect.objectContaining(expected)]);
  const got = await fetch(`${t.baseUrl}/v1/files/${bucket}/${key}:content`);
  expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(data));
}

/** Creation example B: `Upload-Complete: ?0`, Upload-Length, the first `sent` bytes; answers 201. */
async function startPartial(key: string, data: Buffer, sent: number) {
  const res = await send(
    `/resumable/${bucket}/${key}`,
    "POST",
    { ...interop, "upload-complete": "?0", "upload-length": data.length },
    data.subarray(0, sent),
  );
  expect(res.status).toBe(201);
  const id = uploadId(res.headers.location);
  return { res, id, url: String(res.headers.location) };
}

/** Creation example A: everything in one request, `Upload-Complete: ?1`. */
function createWhole(key: string, data: Buffer, headers: Record<string, string> = {}) {
  return send(
    `/resumable/${bucket}/${key}`,
    "POST",
    { ...interop, "upload-length": data.length, "upload-complete": "?1", ...headers },
    data,
  );
}

test("creation with the whole content (example A): a 104 with Location, limits and interop 8, then 200 and the file", async () => {
  const data = content(100 * KiB);
  const key = "photos/2026/cat.jpg";
  const res = await createWhole(key, data, {
    "content-type": "image/jpeg",
    "content-disposition": `inline; filename="cat.jpg"`,
  });
  const first = res.infos[0];
  expect(first && [first.statusCode, first.headers["upload-draft-interop-version"]]).toEqual([104, "8"]);
  const id = uploadId(first.headers.location);
  expect(limits(first.headers["upload-limit"])["max-size"]).toBe(`${t.config.maxFileSize}`);
  // Every message of the request naming the upload resource names the same one.
  for (const info of res.infos)
    expect([info.statusCode, info.headers.location ?? first.headers.location]).toEqual([104, first.headers.location]);
  expect([res.status, res.headers.location]).toEqual([200, first.headers.location]);
  expect(res.json()).toMatchObject({ bucket, key, bytes: data.length, sha256: sha256(data) });
  await expectFile(key, data, "image/jpeg");
  await expectState(`${t.baseUrl}/resumable/session:${id}`, data.length, true, data.length);
});

test("no 104 unless the request says Upload-Draft-Interop-Version: 8; the upload works all the same", async () => {
  for (const version of [undefined, "6"]) {
    const data = content(10 * KiB);
    const key = `no-interim/${version ?? "none"}.bin`;
    const headers = {
      "upload-length": data.length,
      "upload-complete": "?1",
      ...(version ? { "upload-draft-interop-version": version } : {}),
    };
    const res = await send(`/resumable/${bucket}/${key}`, "POST", headers, data);
    expect([version, res.status, res.infos.map((i) => i.statusCode)]).toEqual([version, 200, []]);
    await expectFile(key, data, "application/octet-stream");
  }
});

test("over h2c the 104 is an informational HEADERS frame; the length comes from Content-Length with ?1", async () => {
  const data = content(50 * KiB);
  const key = "h2c/whole.bin";
  const session = http2.connect(t.baseUrl);
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": `/resumable/${bucket}/${key}`,
      "content-type": "text/plain",
      "content-length": data.length,
      "upload-complete": "?1",
      ...interop,
    });
    const infos: http2.IncomingHttpHeaders[] = [];
    stream.on("headers", (headers) => infos.push(headers));
    const response = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      stream.on("response", resolve).on("error", reject);
    });
    const parts: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => parts.push(chunk));
    const ended = new Promise((resolve) => stream.on("end", resolve));
    stream.end(data);
    const final = await response;
    await ended;
    expect(infos[0] && [infos[0][":status"], infos[0]["upload-draft-interop-version"]]).toEqual([104, "8"]);
    const id = uploadId(infos[0].location);
    expect(final[":status"]).toBe(200);
    expect(JSON.parse(`${Buffer.concat(parts)}`)).toMatchObject({ bucket, key, sha256: sha256(data) });
    await expectFile(key, data, "text/plain");
    await expectState(`${t.baseUrl}/resumable/session:${id}`, data.length, true, data.length);
  } finally {
    session.close();
  }
});

test("example 2: ?0 creation with Upload-Length and a part (201), HEAD, an append, and a PATCH with ?1 finishing it", async () => {
  const data = content(10_000);
  const key = "parts/in/three.bin";
  const { res, id, url } = await startPartial(key, data, 4000);
  const named = res.infos.filter((i) => i.headers.location).map((i) => [i.statusCode, i.headers.location]);
  expect(named).toEqual([[104, url]]);
  expect(res.headers["upload-offset"]).toBe("4000");
  expect(limits(res.headers["upload-limit"])["max-size"]).toBe(`${t.config.maxFileSize}`);
  await expectState(url, 4000, false, 10_000);

  const middle = await patch(url, 4000, data.subarray(4000, 7000), false);
  expect([middle.status, middle.headers["upload-complete"]]).toEqual([204, "?0"]);
  expect(middle.infos.filter((i) => i.headers.location)).toEqual([]); // append interims never carry Location
  await expectState(url, 7000, false, 10_000);

  const last = await patch(url, 7000, data.subarray(7000), true);
  expect([last.status, last.headers["upload-complete"]]).toEqual([200, "?1"]);
  expect(last.json()).toMatchObject({ bucket, key, bytes: 10_000, sha256: sha256(data) });
  await expectFile(key, data, "application/octet-stream");
  await expectState(`${t.baseUrl}/resumable/session:${id}`, 10_000, true, 10_000);
});

test("reaching the length with ?0 does not complete the upload; an empty PATCH with ?1 does (example 2, last step)", async () => {
  const data = content(1000);
  const key = "complete/later.bin";
  const { url } = await startPartial(key, data, 400);
  const all = await patch(url, 400, data.subarray(400), false);
  expect([all.status, all.headers["upload-complete"]]).toEqual([204, "?0"]);
  await expectState(url, 1000, false, 1000);
  expect((await restCall(t.baseUrl, "GET", `/v1/files/${bucket}/${key}`)).status).toBe(404);
  const done = await patch(url, 1000, Buffer.alloc(0), true);
  expect([done.status, done.headers["upload-complete"]]).toEqual([200, "?1"]);
  expect(done.json()).toMatchObject({ bucket, key, bytes: 1000, sha256: sha256(data) });
  await expectFile(key, data);
});

test("a creation request cut off mid-body keeps what arrived; HEAD tells the offset kept, and a PATCH from there completes it", async () => {
  const data = content(400 * KiB);
  const key = "cut/off.bin";
  const infos: http.InformationEvent[] = [];
  const req = http.request(`${t.baseUrl}/resumable/${bucket}/${key}`, {
    method: "POST",
    headers: { ...interop, "content-length": data.length, "upload-length": data.length, "upload-complete": "?1" },
  });
  req.on("information", (info) => infos.push(info));
  req.on("error", () => undefined);
  req.write(data.subarray(0, 300 * KiB));
  const first = await eventually(
    () => infos.find((i) => i.statusCode === 104 && i.headers.location),
    5000,
    "a 104 names the upload",
  );
  const id = uploadId(first.headers.location);
  await eventually(async () => ((await t.storedBytes(id)) ?? 0) >= 256 * KiB, 5000, "the server has stored 256 KiB");
  req.destroy();

  const url = String(first.headers.location);
  const offset = await eventually(
    async () => {
      const state = await head(url);
      const at = Number(state.headers["upload-offset"]);
      return state.status === 204 && at >= 256 * KiB ? at : 0;
    },
    5000,
    "HEAD tells at least the 256 KiB stored",
  );
  expect(offset).toBeLessThanOrEqual(300 * KiB);
  await expectState(url, offset, false, data.length);
  const rest = await patch(url, offset, data.subarray(offset), true);
  expect([rest.status, rest.headers["upload-complete"]]).toEqual([200, "?1"]);
  await expectFile(key, data);
});

test("PATCH at a wrong Upload-Offset: 409 with the right offset and the mismatching-upload-offset problem; nothing changes", async () => {
  const data = content(1000);
  const { url } = await startPartial("offsets/wrong.bin", data, 400);
  for (const provided of [200, 600]) {
    const res = await patch(url, provided, data.subarray(provided, provided + 100), false);
    expect(res.headers["upload-offset"]).toBe("400");
    expect(expectProblem(res, 409, "mismatching-upload-offset")).toMatchObject({
      "expected-offset": 400,
      "provided-offset": provided,
    });
  }
  await expectState(url, 400, false, 1000);
  expect((await patch(url, 400, data.subarray(400), true)).status).toBe(200);
  await expectFile("offsets/wrong.bin", data);
});

test("PATCH past the declared length, or with another Upload-Length: inconsistent-upload-length; nothing changes", async () => {
  const data = content(1000);
  const { url } = await startPartial("lengths/past.bin", data, 400);
  const tooMuch = Buffer.concat([data.subarray(400), content(100)]);
  expectProblem(await patch(url, 400, tooMuch, false), 400, "inconsistent-upload-length");
  expectProblem(await patch(url, 400, tooMuch, true), 400, "inconsistent-upload-length");
  expectProblem(
    await patch(url, 400, data.subarray(400), false, { "upload-length": "2000" }),
    400,
    "inconsistent-upload-length",
  );
  await expectState(url, 400, false, 1000);
  expect((await patch(url, 400, data.subarray(400), true)).status).toBe(200);
  await expectFile("lengths/past.bin", data);
});

test("Upload-Complete: ?1 on a PATCH ending short of the length, or a creation whose lengths disagree: inconsistent length", async () => {
  const data = content(1000);
  const { url } = await startPartial("lengths/short.bin", data, 400);
  expectProblem(await patch(url, 400, data.subarray(400, 700), true), 400, "inconsistent-upload-length");
  await expectState(url, 400, false, 1000);
  expect((await patch(url, 400, data.subarray(400), true)).status).toBe(200);
  await expectFile("lengths/short.bin", data);

  // Content-Length with ?1 says 10 bytes, Upload-Length says 20: refused, and nothing is created.
  const created = await send(
    `/resumable/${bucket}/lengths/disagree.bin`,
    "POST",
    { ...interop, "upload-complete": "?1", "upload-length": "20" },
    content(10),
  );
  expectProblem(created, 400, "inconsistent-upload-length");
  expect(created.infos.filter((i) => i.headers.location)).toEqual([]);
  expect((await restCall(t.baseUrl, "GET", `/v1/files/${bucket}/lengths/disagree.bin`)).status).toBe(404);
});

test("a completed upload takes nothing more: an empty append gets completed-upload, content gets inconsistent length", async () => {
  const data = content(2000);
  const key = "done/already.bin";
  const res = await createWhole(key, data);
  expect(res.status).toBe(200);
  const url = String(res.infos.find((i) => i.headers.location)?.headers.location ?? res.headers.location);
  uploadId(url);
  await expectState(url, 2000, true, 2000);
  const again = await patch(url, 2000, Buffer.alloc(0), true);
  expectProblem(again, 400, "completed-upload");
  expectProblem(await patch(url, 2000, content(10), false), 400, "inconsistent-upload-length");
  await expectState(url, 2000, true, 2000);
  await expectFile(key, data);
});

test("DELETE cancels (204); the upload resource then answers 404, as does its REST session", async () => {
  // Careful creation: no content at all, just the upload resource.
  const { id, url } = await startPartial("cancel/me.bin", content(1000), 0);
  await expectState(url, 0, false, 1000);
  expect((await send(url, "DELETE", interop)).status).toBe(204);
  expect((await head(url)).status).toBe(404);
  expect((await patch(url, 0, content(100), false)).status).toBe(404);
  expect((await restCall(t.baseUrl, "GET", `/v1/files/session:${id}`)).status).toBe(404);
});

test("OPTIONS on the creation URL announces Accept-Patch with application/partial-upload and Upload-Limit with max-size", async () => {
  const res = await send(`/resumable/${bucket}/any/key.bin`, "OPTIONS", {});
  expect(res.status >= 200 && res.status < 300).toBe(true);
  expect(String(res.headers["accept-patch"]).split(/\s*,\s*/)).toContain("application/partial-upload");
  const announced = limits(res.headers["upload-limit"]);
  expect(announced["max-size"]).toBe(`${t.config.maxFileSize}`);
  for (const [name, value] of Object.entries(announced))
    expect([name, value]).toEqual([name, expect.stringMatching(/^\d+$/)]);
});

test("the upload resource is the REST upload session of the same id (GET /v1/files/session:{id})", async () => {
  const data = content(1000);
  const { id, url } = await startPartial("rest/view.bin", data, 400);
  const before = await restCall(t.baseUrl, "GET", `/v1/files/session:${id}`);
  expect([before.status, before.json()]).toEqual([
    200,
    expect.objectContaining({ id, url: `${t.baseUrl}/v1/files/session:${id}`, offset: 400, size: 1000 }),
  ]);
  expect((await patch(url, 400, data.subarray(400), true)).status).toBe(200);
  const after = await restCall(t.baseUrl, "GET", `/v1/files/session:${id}`);
  expect(after.json()).toMatchObject({
    id,
    offset: 1000,
    size: 1000,
    complete: true,
    file: expect.objectContaining({ bucket, key: "rest/view.bin", sha256: sha256(data) }),
  });
});
