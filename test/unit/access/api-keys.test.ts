import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadApiKeys } from "../../../src/access/api-keys.js";

const keyA = "alpha-key-0123456789";
const keyB = "bravo-key-0123456789";
let dir: string;
beforeAll(async () => (dir = await mkdtemp(path.join(tmpdir(), "api-keys-"))));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(content: unknown): Promise<string> {
  const p = path.join(dir, `${Math.random()}.json`);
  await writeFile(p, typeof content === "string" ? content : JSON.stringify(content));
  return p;
}

test("no keys: disabled", () => {
  const keys = loadApiKeys("", "");
  expect(keys.enabled).toBe(false);
  expect(keys.find(keyA)).toBeUndefined();
});

test("API_KEYS entries: access and buckets", () => {
  const keys = loadApiKeys(`${keyA}:rw:*  ${keyB}:r:cats,dogs`, "");
  expect(keys.enabled).toBe(true);
  const a = keys.find(keyA)!;
  expect([...a.read]).toEqual(["*"]);
  expect([...a.write]).toEqual(["*"]);
  const b = keys.find(keyB)!;
  expect([...b.read]).toEqual(["cats", "dogs"]);
  expect(b.write.size).toBe(0);
  expect(keys.find("nope-nope-nope-nope")).toBeUndefined();
  expect(keys.find(`${keyA}x`)).toBeUndefined();
  expect(keys.find("")).toBeUndefined();
});

test("a key file with plain keys and SHA-256 digests", async () => {
  const digest = createHash("sha256").update(keyB).digest("hex");
  const keys = loadApiKeys(
    "",
    await file([
      { name: "uploader", key: keyA, write: ["inbox"] },
      { name: "reader", key_sha256: digest, read: ["*"] },
    ]),
  );
  expect(keys.find(keyA)).toMatchObject({ name: "uploader" });
  expect([...keys.find(keyA)!.write]).toEqual(["inbox"]);
  expect(keys.find(keyB)).toMatchObject({ name: "reader" });
});

test("environment and file together", async () => {
  const keys = loadApiKeys(`${keyA}:w:x`, await file([{ key: keyB, read: ["y"] }]));
  expect(keys.find(keyA)).toBeDefined();
  expect(keys.find(keyB)).toBeDefined();
});

describe("bad configuration is refused without ever showing a key", () => {
  test.each([
    [`${keyA}:rw`, /API_KEYS entry 1: expected <key>:<r\|w\|rw>:<buckets>/],
    [`${keyA}:x:*`, /access must be r, w or rw/],
    ["short:rw:*", /16-256 characters/],
    [`${keyA}:rw:bad bucket`, /expected|not a bucket/],
    [`${keyA}:rw:a/b`, /not a bucket name/],
  ])("API_KEYS %#", (text, message) => {
    let err: Error | undefined;
    try {
      loadApiKeys(text, "");
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(message);
    expect(err?.message).not.toContain(keyA);
  });

  test.each([
    [[{ key: keyA }], /grants nothing/],
    [[{ read: ["*"] }], /exactly one of "key" and "key_sha256"/],
    [[{ key: keyA, key_sha256: "00".repeat(32), read: ["*"] }], /exactly one/],
    [[{ key_sha256: "xyz", read: ["*"] }], /64 hex digits/],
    [[{ key: keyA, read: "cats" }], /must be a list/],
    [{ key: keyA }, /JSON array/],
    ["{not json", /cannot read .* as JSON/],
  ])("key file %#", async (content, message) => {
    const p = await file(content);
    expect(() => loadApiKeys("", p)).toThrow(message);
    try {
      loadApiKeys("", p);
    } catch (e) {
      expect((e as Error).message).not.toContain(keyA);
    }
  });

  test("a missing key file", () => {
    expect(() => loadApiKeys("", path.join(dir, "none.json"))).toThrow(/cannot read/);
  });
});

test("the README states the key rule the code applies: its lengths and characters, exactly", async () => {
  const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
  const rule = /A key is (\d+)–(\d+) characters of\s+`([^`]+)`/.exec(readme);
  expect(rule).not.toBeNull();
  const [min, max] = [Number(rule![1]), Number(rule![2])];
  // "A-Z a-z 0-9 . _ ~ + / = -": ranges and single characters.
  const stated = rule![3]
    .split(" ")
    .flatMap((part) =>
      /^.-.$/.test(part)
        ? Array.from({ length: part.charCodeAt(2) - part.charCodeAt(0) + 1 }, (_, i) =>
            String.fromCharCode(part.charCodeAt(0) + i),
          )
        : [part],
    );
  const accepts = (key: string) => loadApiKeys(`${key}:r:*`, "").find(key) !== undefined;
  const rejects = (key: string) => expect(() => loadApiKeys(`${key}:r:*`, "")).toThrow();
  expect(accepts("a".repeat(min))).toBe(true);
  expect(accepts("a".repeat(max))).toBe(true);
  rejects("a".repeat(min - 1));
  rejects("a".repeat(max + 1));
  for (const c of stated) expect([c, accepts(c.repeat(min))]).toEqual([c, true]);
  for (let code = 0x21; code < 0x7f; code++) {
    const c = String.fromCharCode(code);
    if (!stated.includes(c) && c !== ":") rejects(c.repeat(min)); // ":" would split the entry itself
  }
});
