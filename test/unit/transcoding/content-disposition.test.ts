/** Which downloads a browser may show, and under which name they are saved. */
import { createDispositionPolicy, lastSegment } from "../../../src/transcoding/content-disposition.js";

const byDefault = createDispositionPolicy();

test.each([
  ["image/png", "inline"],
  ["image/jpeg", "inline"],
  ["IMAGE/WebP", "inline"],
  ["application/pdf", "inline"],
  ["text/plain; charset=utf-8", "inline"],
  ["video/mp4", "inline"],
  ["audio/mpeg", "inline"],
  // Documents that run scripts, even though image/* is on the list.
  ["image/svg+xml", "attachment"],
  ["text/html", "attachment"],
  ["text/html; charset=utf-8", "attachment"],
  ["application/xhtml+xml", "attachment"],
  // Anything not on the list.
  ["application/octet-stream", "attachment"],
  ["application/javascript", "attachment"],
  ["text/xml", "attachment"],
  ["text/csv", "attachment"],
  ["", "attachment"],
  ["nonsense", "attachment"],
])("by default %j is %s", (type, disposition) => {
  expect(byDefault(type, "f.bin")).toBe(`${disposition}; filename=f.bin`);
});

test("an operator's list replaces the default; exact types and type/*", () => {
  const policy = createDispositionPolicy(["text/csv", "font/*"]);
  expect(policy("text/csv", undefined)).toBe("inline");
  expect(policy("font/woff2", undefined)).toBe("inline");
  expect(policy("image/png", undefined)).toBe("attachment");
  expect(createDispositionPolicy([])("image/png", undefined)).toBe("attachment");
});

test("HTML and SVG cannot be put on the list, nor what is not a media type", () => {
  expect(() => createDispositionPolicy(["text/html"])).toThrow(/text\/html is never shown inline/);
  expect(() => createDispositionPolicy(["Image/SVG+xml"])).toThrow(/image\/svg\+xml is never shown inline/);
  expect(() => createDispositionPolicy(["*/*"])).toThrow(/not a media type/);
  expect(() => createDispositionPolicy(["image"])).toThrow(/not a media type/);
});

test("a name beyond ASCII gets an ASCII fallback and an RFC 8187 filename*; quotes are escaped", () => {
  expect(byDefault("image/jpeg", "猫.jpg")).toBe(`inline; filename="?.jpg"; filename*=UTF-8''%E7%8C%AB.jpg`);
  expect(byDefault("application/zip", 'say "hi".zip')).toBe(`attachment; filename="say \\"hi\\".zip"`);
});

test("no name: the disposition alone", () => {
  expect(byDefault("application/zip", "")).toBe("attachment");
});

test.each([
  ["a/b/c.txt", "c.txt"],
  ["cat.jpg", "cat.jpg"],
  ["photos/2025/", ""],
])("the last segment of %j is %j", (value, name) => {
  expect(lastSegment(value)).toBe(name);
});
