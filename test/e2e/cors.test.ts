/**
 * CORS on the one port, as a browser exercises it: preflights answered before the key or the
 * database (keys are on here), allowed origins only, and the headers a page must read exposed on
 * Connect, gRPC-Web and REST answers. With no origins configured, nothing of CORS is answered.
 */
import http from "node:http";
import { startTestApp, type TestApp } from "../support/test-app.js";

const page = "http://app.example:5173";
const key = "cors-key-0123456789abcdef";
let t: TestApp;
let off: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "cors-allowed-origins": `${page},https://other.example`, "api-keys": `${key}:rw:*` });
  off = await startTestApp({ "api-keys": `${key}:rw:*` });
});
afterAll(async () => {
  await t?.close();
  await off?.close();
});

/** An HTTP/1.1 request with exactly these headers (fetch would not send Origin as given). */
function request(base: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const preflight = (base: string, origin: string, path: string, method: string, headers: string) =>
  request(base, "OPTIONS", path, {
    origin,
    "access-control-request-method": method,
    "access-control-request-headers": headers,
  });

test("a preflight from an allowed origin is answered without a key, for Connect, gRPC-Web and REST uploads", async () => {
  for (const [path, method, headers] of [
    ["/files.v1.FilesService/ListBuckets", "POST", "content-type,connect-protocol-version,authorization"],
    ["/files.v1.FilesService/ListBuckets", "POST", "content-type,x-grpc-web,x-user-agent,authorization"],
    ["/v1/files/session:0f8fad5b-d9cb-469f-a165-70867728950e", "POST", "content-type,authorization,upload-offset"],
  ]) {
    const res = await preflight(t.baseUrl, page, path, method, headers);
    expect([path, res.status, res.headers["access-control-allow-origin"]]).toEqual([path, 204, page]);
    const allowed = String(res.headers["access-control-allow-headers"]).toLowerCase().split(/,\s*/);
    for (const h of headers.split(",")) expect(allowed).toContain(h);
    expect(String(res.headers["access-control-allow-methods"])).toContain(method);
  }
});

test("an origin that is not allowed gets no CORS headers, so its page cannot read the answer", async () => {
  const res = await preflight(
    t.baseUrl,
    "https://evil.example",
    "/files.v1.FilesService/ListBuckets",
    "POST",
    "content-type",
  );
  expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  const call = await request(
    t.baseUrl,
    "POST",
    "/files.v1.FilesService/ListBuckets",
    {
      origin: "https://evil.example",
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
    },
    "{}",
  );
  expect(call.headers["access-control-allow-origin"]).toBeUndefined();
  // Cacheable answers vary by origin, whether they carry CORS headers or not.
  expect(call.headers.vary).toMatch(/Origin/);
  expect((await request(t.baseUrl, "GET", "/healthz", {})).headers.vary).toMatch(/Origin/);
});

test("answers to an allowed origin expose what a page must read: Connect's headers, Upload-Offset, ETag", async () => {
  const headers = { origin: page, authorization: `Bearer ${key}` };
  const created = await request(
    t.baseUrl,
    "POST",
    "/v1/files",
    { ...headers, "content-type": "application/json" },
    JSON.stringify({ bucket: "cors", key: "a.txt", mime_type: "text/plain", size: 5 }),
  );
  expect(created.status).toBe(200);
  expect(created.headers["access-control-allow-origin"]).toBe(page);
  const exposed = String(created.headers["access-control-expose-headers"]).toLowerCase();
  for (const h of ["grpc-status", "grpc-message", "upload-offset", "location", "etag", "content-range"])
    expect(exposed).toContain(h);
  const id = (JSON.parse(created.body) as { id: string }).id;
  const sent = await request(t.baseUrl, "POST", `/v1/files/session:${id}`, headers, "hello");
  expect([sent.status, sent.headers["access-control-allow-origin"], sent.headers["upload-offset"]]).toEqual([
    200,
    page,
    "5",
  ]);
  // Refused for want of a key, the page still reads why.
  const refused = await request(
    t.baseUrl,
    "POST",
    "/files.v1.FilesService/ListBuckets",
    {
      origin: page,
      "content-type": "application/json",
    },
    "{}",
  );
  expect([refused.status, refused.headers["access-control-allow-origin"]]).toEqual([401, page]);
});

test("with no allowed origins (the default), a preflight gets no CORS answer", async () => {
  const res = await preflight(off.baseUrl, page, "/files.v1.FilesService/ListBuckets", "POST", "content-type");
  expect(res.headers["access-control-allow-origin"]).toBeUndefined();
});
