import { Code } from "@connectrpc/connect";
import { decodePageToken, encodePageToken } from "../../src/files/page-token.js";
import { connectErrorOf } from "../support/connect-errors.js";

function expectInvalid(fn: () => unknown, message: RegExp): void {
  expect(connectErrorOf(fn, Code.InvalidArgument).rawMessage).toMatch(message);
}

/** A token with the given JSON body, encoded the way encodePageToken does. */
function rawToken(body: unknown): string {
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

test("round trip", () => {
  const cursor = { bucket: "b", prefix: "photos/", after: "photos/2025/cat.jpg" };
  const token = encodePageToken(cursor);
  expect(decodePageToken(token, "b", "photos/")).toEqual(cursor);
});

test("round trip with an empty prefix", () => {
  const token = encodePageToken({ bucket: "b", prefix: "", after: "k" });
  expect(decodePageToken(token, "b", "")).toEqual({ bucket: "b", prefix: "", after: "k" });
});

test("a token is URL-safe", () => {
  // "?>" bytes give "/" and "+" in standard base64 whatever their alignment; the token must not.
  // (No valid key has them; the encoding holds for any text all the same.)
  const cursor = { bucket: "b", prefix: "", after: "??>>??>>??>>" };
  const standard = Buffer.from(JSON.stringify({ v: 1, b: "b", p: "", a: cursor.after })).toString("base64");
  expect(standard).toMatch(/[+/]/);
  const token = encodePageToken(cursor);
  expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  expect(JSON.parse(Buffer.from(token, "base64url").toString("utf8")).a).toBe(cursor.after);
});

test("refuses a token from another bucket", () => {
  const token = encodePageToken({ bucket: "a", prefix: "", after: "k" });
  expectInvalid(() => decodePageToken(token, "b", ""), /another listing/);
});

test("refuses a token from another prefix", () => {
  const token = encodePageToken({ bucket: "b", prefix: "x/", after: "x/k" });
  expectInvalid(() => decodePageToken(token, "b", "y/"), /another listing/);
  expectInvalid(() => decodePageToken(token, "b", ""), /another listing/);
});

test.each([
  ["garbage", "garbage"],
  ["non-base64", "!!!***"],
  ["empty", ""],
  ["JSON that is not an object", rawToken(42)],
  ["JSON null", rawToken(null)],
  ["wrong version", rawToken({ v: 2, b: "b", p: "", a: "k" })],
  ["empty after", rawToken({ v: 1, b: "b", p: "", a: "" })],
  ["missing after", rawToken({ v: 1, b: "b", p: "" })],
  ["non-string after", rawToken({ v: 1, b: "b", p: "", a: 5 })],
  ["non-string bucket", rawToken({ v: 1, b: ["b"], p: "", a: "k" })],
  ["truncated", encodePageToken({ bucket: "b", prefix: "", after: "key" }).slice(0, -4)],
  // The key reaches the database: it must be a key, or Postgres answers for it (a NUL: 500).
  ["a NUL in the key", rawToken({ v: 1, b: "b", p: "", a: "\u0000" })],
  ["a key with a NUL inside", rawToken({ v: 1, b: "b", p: "", a: "cat\u0000.jpg" })],
  ["a key with characters keys can't have", rawToken({ v: 1, b: "b", p: "", a: "ｃat é" })],
  ["a key with a lone surrogate", rawToken({ v: 1, b: "b", p: "", a: "\ud800" })],
  ["a key with a dot-dot segment", rawToken({ v: 1, b: "b", p: "", a: "a/../b" })],
  ["a key longer than keys may be", rawToken({ v: 1, b: "b", p: "", a: "k".repeat(1025) })],
  ["a token longer than any we issue", "A".repeat(4097)],
])("refuses %s", (_name, token) => {
  expectInvalid(() => decodePageToken(token, "b", ""), /page_token is invalid/);
});

test("refuses a key outside the listing's prefix, which no page of it ends with", () => {
  expectInvalid(
    () => decodePageToken(rawToken({ v: 1, b: "b", p: "photos/", a: "zzz" }), "b", "photos/"),
    /page_token is invalid/,
  );
});

test("the longest token we issue is accepted", () => {
  const prefix = "p".repeat(1023);
  const cursor = { bucket: "b".repeat(63), prefix, after: `${prefix}k` };
  expect(cursor.after.length).toBe(1024);
  expect(decodePageToken(encodePageToken(cursor), cursor.bucket, prefix)).toEqual(cursor);
});
