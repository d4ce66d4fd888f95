import { Code } from "@connectrpc/connect";
import {
  checkBucket,
  checkKey,
  checkMimeType,
  checkSha256,
  checkSize,
  checkUploadId,
  defaultMimeType,
} from "../../src/files/request-validation.js";
import { connectErrorOf } from "../support/connect-errors.js";
import { acceptedBuckets, acceptedKeys, refusedBuckets, refusedKeys } from "../support/name-samples.js";

/** Expects INVALID_ARGUMENT whose message quotes the offending value (as JSON, the way request-validation.ts shows it). */
function expectInvalid(fn: () => unknown, value: string): void {
  const err = connectErrorOf(fn, Code.InvalidArgument);
  expect(err.rawMessage).toContain(JSON.stringify(value));
}

const sha = "0123456789abcdef".repeat(4);

describe("checkBucket", () => {
  test.each(acceptedBuckets)("accepts %j", (bucket) => {
    expect(checkBucket(bucket)).toBe(bucket);
  });

  test.each(refusedBuckets)("refuses %j", (bucket) => {
    expectInvalid(() => checkBucket(bucket), bucket);
  });

  test("refuses empty, saying it is required", () => {
    const err = connectErrorOf(() => checkBucket(""), Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/bucket is required/);
  });
});

describe("checkKey", () => {
  test.each(acceptedKeys)("accepts %j", (key) => {
    expect(checkKey(key)).toBe(key);
  });

  test.each(refusedKeys)("refuses %j", (key) => {
    // Long keys are shortened in messages, so check the start of the value only.
    const err = connectErrorOf(() => checkKey(key), Code.InvalidArgument);
    expect(err.rawMessage).toContain(JSON.stringify(key.slice(0, 80)).slice(0, -1));
  });

  test("refuses empty, saying it is required", () => {
    const err = connectErrorOf(() => checkKey(""), Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/key is required/);
  });

  test("shortens a very long key in the message", () => {
    const err = connectErrorOf(() => checkKey("x".repeat(5000)), Code.InvalidArgument);
    expect(err.rawMessage.length).toBeLessThan(300);
    expect(err.rawMessage).toContain("…");
  });
});

describe("checkMimeType", () => {
  test.each([
    "image/jpeg",
    "text/plain; charset=utf-8",
    "text/plain;charset=utf-8",
    'multipart/form-data; boundary="a b c"',
    "application/vnd.api+json",
    "application/octet-stream",
  ])("accepts %j", (mime) => {
    expect(checkMimeType(mime)).toBe(mime);
  });

  test("empty becomes application/octet-stream", () => {
    expect(checkMimeType("")).toBe("application/octet-stream");
    expect(defaultMimeType).toBe("application/octet-stream");
  });

  test.each([
    "jpeg",
    "a/b/c",
    "/jpeg",
    "image/",
    "text/plain\r\nX: y",
    "text/plain\nX-Injected: 1",
    "text/plain; charset",
    'text/plain; a="b\r\nc"',
    "image/jpeg ",
    "ｉmage/jpeg",
  ])("refuses %j", (mime) => {
    expectInvalid(() => checkMimeType(mime), mime);
  });

  // A mime type is sent back as a Content-Type header: no line breaks around ";", no control or
  // non-ASCII characters in a quoted value (Node would refuse the header, a proxy might split it).
  test.each([
    "text/plain;\r\nX=y",
    "text/plain\r\n; charset=utf-8",
    "text/plain;\ncharset=utf-8",
    "text/plain;\u2028a=b",
    'text/plain; a="\u0001x"',
    'text/plain; a="caf\u00e9"',
    'text/plain; a="tab\there"',
  ])("refuses %j", (mime) => {
    expectInvalid(() => checkMimeType(mime), mime);
  });

  test.each(['text/plain;charset="utf 8"', "text/plain ;\tcharset=utf-8"])(
    "accepts quoted spaces and tabs around ';': %j",
    (mime) => {
      expect(checkMimeType(mime)).toBe(mime);
    },
  );

  test("refuses more than 255 characters", () => {
    const mime = `application/${"x".repeat(120)}; a=${"b".repeat(120)}`;
    expect(mime.length).toBeGreaterThan(255);
    connectErrorOf(() => checkMimeType(mime), Code.InvalidArgument);
  });
});

describe("checkSha256", () => {
  test("accepts lowercase hex unchanged", () => {
    expect(checkSha256(sha)).toBe(sha);
  });

  test("normalises uppercase to lowercase", () => {
    expect(checkSha256(sha.toUpperCase())).toBe(sha);
  });

  test("empty means no promised checksum", () => {
    expect(checkSha256("")).toBeUndefined();
  });

  test.each([sha.slice(1), `${sha}0`, `g${sha.slice(1)}`, ` ${sha.slice(1)}`])("refuses %j", (value) => {
    expectInvalid(() => checkSha256(value), value);
  });
});

describe("checkSize", () => {
  test("answers a number", () => {
    expect(checkSize(0n, 100)).toBe(0);
    expect(checkSize(100n, 100)).toBe(100);
    expect(typeof checkSize(5n, 100)).toBe("number");
  });

  test("refuses a negative size with INVALID_ARGUMENT naming it", () => {
    const err = connectErrorOf(() => checkSize(-1n, 100), Code.InvalidArgument);
    expect(err.rawMessage).toContain("-1");
  });

  test("refuses more than the maximum with RESOURCE_EXHAUSTED naming both", () => {
    const err = connectErrorOf(() => checkSize(101n, 100), Code.ResourceExhausted);
    expect(err.rawMessage).toContain("101");
    expect(err.rawMessage).toContain("100");
  });

  test("refuses a size beyond 2^64 without losing precision first", () => {
    // A bigint far beyond Number range must still be compared exactly, not rounded.
    const huge = 2n ** 70n;
    const err = connectErrorOf(() => checkSize(huge, Number.MAX_SAFE_INTEGER), Code.ResourceExhausted);
    expect(err.rawMessage).toContain(huge.toString());
  });
});

describe("checkUploadId", () => {
  const id = "0f8fad5b-d9cb-469f-a165-70867728950e";

  test("accepts a lowercase UUID", () => {
    expect(checkUploadId(id)).toBe(id);
  });

  test.each([id.toUpperCase(), id.slice(1), id.replace(/-/g, ""), `{${id}}`, "../etc/passwd", "abc"])(
    "refuses %j",
    (value) => {
      expectInvalid(() => checkUploadId(value), value);
    },
  );

  test("refuses empty, saying it is required", () => {
    const err = connectErrorOf(() => checkUploadId(""), Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/upload_id is required/);
  });
});
