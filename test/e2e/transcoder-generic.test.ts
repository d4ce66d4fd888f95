/**
 * The transcoder serving a service it was never written for: the test-only LibraryService, known
 * only from descriptors compiled at test time, over a real HTTP server. Nothing in src/ names it.
 */
import { createConnectRouter } from "@connectrpc/connect";
import { createTranscoder, routeInProcess } from "../../src/transcoding/index.js";
import http from "node:http";
import type net from "node:net";
import { loadLibrary } from "../support/library-service.js";
import { restCall } from "../support/rest.js";

let server: http.Server;
let base: string;

beforeAll(async () => {
  const library = await loadLibrary();
  const methods = routeInProcess(createConnectRouter(), library.routes);
  const rest = createTranscoder({ methods, maxJsonBodyBytes: 64 * 1024, rawChunkBytes: 1000 });
  server = http.createServer(rest.handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const call = (method: string, path: string, body?: string | Buffer, headers?: Record<string, string>) =>
  restCall(base, method, path, body, headers);

test("GET with a multi-segment variable; int64 beyond 2^53 is an exact JSON number", async () => {
  const res = await call("GET", "/v1/shelves/s1/books/b2");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json");
  expect(res.text).toContain('"pages":9007199254740993');
  expect(res.json()).toMatchObject({ name: "shelves/s1/books/b2", title: "Title of shelves/s1/books/b2" });
});

test("an additional binding reaches the same method", async () => {
  expect((await call("GET", "/v1/books/b7")).json()).toMatchObject({ name: "b7" });
});

test("query parameters of every shape arrive in the request", async () => {
  const res = await call(
    "GET",
    "/v1/shelves/s1/books?pageSize=3&tags=x&tags=y&filter.genre=GENRE_POETRY&ids=9007199254740993&ids=-2",
  );
  expect(res.status).toBe(200);
  const echo = res.json().echo as Record<string, unknown>;
  expect(echo).toMatchObject({
    shelf: "s1",
    page_size: 3,
    tags: ["x", "y"],
    filter: { genre: "GENRE_POETRY", min_pages: 0 },
  });
  expect(res.text).toContain('"ids":[9007199254740993,-2]');
  expect((await call("GET", "/v1/shelves/s1/books?ids=18446744073709551616")).status).toBe(400);
});

test('body "field" and body "*"', async () => {
  expect((await call("POST", "/v1/shelves/s9/books", '{"title": "New", "pages": 3}')).json()).toMatchObject({
    name: "shelves/s9/books/new",
    title: "New",
    pages: 3,
  });
  expect((await call("PATCH", "/v1/shelves/s1/books/b1", '{"title": "Changed"}')).json()).toMatchObject({
    name: "shelves/s1/books/b1",
    title: "Changed",
  });
});

test("a custom verb and a custom HTTP method; a scalar response_body", async () => {
  expect((await call("POST", "/v1/shelves/s1/books/b1:archive", "{}")).json()).toMatchObject({ tags: ["archived"] });
  const purge = await call("PURGE", "/v1/shelves/four");
  expect(purge.status).toBe(200);
  expect(purge.text.trim()).toBe("4");
});

test("a server stream is newline-delimited JSON, its error the last line", async () => {
  const res = await call("GET", "/v1/shelves/s1/books:watch");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/x-ndjson");
  const lines = res.text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.slice(0, 3).map((l) => l.name)).toEqual([
    "shelves/s1/books/1",
    "shelves/s1/books/2",
    "shelves/s1/books/3",
  ]);
  expect(lines[3]).toEqual({ error: { code: "resource_exhausted", message: "the watch ended" } });
});

test("a raw body becomes a client stream of bounded messages", async () => {
  const res = await call("PUT", "/v1/shelves/s1/books/b1/scan", Buffer.alloc(2500, 7), {
    "content-type": "image/tiff",
  });
  expect(res.json()).toEqual({ name: "shelves/s1/books/b1", bytes: 2500, messages: 4 }); // the named first one, then 3 of data
  const empty = await call("PUT", "/v1/shelves/s1/books/b1/scan");
  expect(empty.json()).toEqual({ name: "shelves/s1/books/b1", bytes: 0, messages: 1 });
});

test("errors: the code's HTTP status and a JSON body", async () => {
  const missing = await call("GET", "/v1/shelves/s1/books/missing");
  expect(missing.status).toBe(404);
  expect(missing.json()).toEqual({ code: "not_found", message: "book shelves/s1/books/missing not found" });
  const bad = await call("GET", "/v1/shelves/s1/books?page_size=x");
  expect(bad.status).toBe(400);
  expect(bad.json().code).toBe("invalid_argument");
  const json = await call("POST", "/v1/shelves/s1/books", "{not json");
  expect(json.status).toBe(400);
  expect(json.json().message).toMatch(/not valid JSON/);
  const large = await call("POST", "/v1/shelves/s1/books", JSON.stringify({ title: "x".repeat(70_000) }));
  expect(large.status).toBe(413);
  expect(large.json()).toMatchObject({ code: "resource_exhausted" });
});

test("unknown paths 404, known paths with another method 405 with Allow", async () => {
  const nope = await call("GET", "/v2/nothing");
  expect(nope.status).toBe(404);
  expect(nope.json().code).toBe("not_found");
  const wrong = await call("DELETE", "/v1/shelves/s1/books");
  expect(wrong.status).toBe(405);
  expect(wrong.headers.get("allow")).toBe("GET, HEAD, POST");
});

test("HEAD answers a GET's headers without a body", async () => {
  const res = await fetch(`${base}/v1/books/b1`, { method: "HEAD" });
  expect(res.status).toBe(200);
  expect(Number(res.headers.get("content-length"))).toBeGreaterThan(10);
  expect(await res.text()).toBe("");
});
