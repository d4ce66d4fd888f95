import { matchPathTemplate, parsePathTemplate, PathTemplateError } from "../../../src/transcoding/path-template.js";

function match(template: string, path: string): Record<string, string> | undefined {
  const t = parsePathTemplate(template);
  const m = matchPathTemplate(t, path.slice(1).split("/"));
  return m && Object.fromEntries(m);
}

describe("parsePathTemplate", () => {
  test("literals, variables, ** and a verb", () => {
    const t = parsePathTemplate("/v1/files/{bucket}/{key=**}:content");
    expect(t.verb).toBe("content");
    expect(t.variables).toEqual([["bucket"], ["key"]]);
    expect(t.segments.map((s) => s.kind)).toEqual(["literal", "literal", "single", "multi"]);
    expect(t.multiSegment).toEqual([false, true]);
  });

  test("a literal prefix sharing a segment with a variable is a segment, not a verb", () => {
    const t = parsePathTemplate("/v1/files/session:{upload_id}");
    expect(t.verb).toBeUndefined();
    expect(t.segments[2]).toEqual({ kind: "single", prefix: "session:", variable: 0 });
  });

  test("a prefixed variable followed by a verb", () => {
    const t = parsePathTemplate("/v1/x:{id}:cancel");
    expect(t.verb).toBe("cancel");
    expect(t.segments[1]).toMatchObject({ kind: "single", prefix: "x:" });
  });

  test("variables over several segments, dotted field paths", () => {
    const t = parsePathTemplate("/v1/{book.name=shelves/*/books/*}");
    expect(t.variables).toEqual([["book", "name"]]);
    expect(t.multiSegment).toEqual([true]);
  });

  test.each([
    ["v1/files", /start with "\/"/],
    ["/v1//files", /empty segment/],
    ["/v1/{a", /unbalanced/],
    ["/v1/{a={b}}", /nested|nest/],
    ["/v1/{a}/{a}", /bound twice/],
    ["/v1/**/x", /"\*\*" must be the last/],
    ["/v1/{1a}", /invalid field path/],
    ["/v1/x{a=**}", /single segment/],
    ["/v1/{a}x", /must end its segment/],
    ["/v1/files:", /not a literal/],
    ["/v1/fi?les", /not a literal/],
  ])("refuses %s", (template, problem) => {
    expect(() => parsePathTemplate(template)).toThrow(PathTemplateError);
    expect(() => parsePathTemplate(template)).toThrow(problem);
  });
});

describe("matchPathTemplate", () => {
  test("binds single and multi-segment variables", () => {
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/dogs/photos/2025/shiba.jpg")).toEqual({
      bucket: "dogs",
      key: "photos/2025/shiba.jpg",
    });
    expect(match("/v1/files/{bucket}", "/v1/files/dogs")).toEqual({ bucket: "dogs" });
  });

  test("literals must match exactly, segment counts must fit", () => {
    expect(match("/v1/files/{bucket}", "/v1/file/dogs")).toBeUndefined();
    expect(match("/v1/files/{bucket}", "/v1/files/dogs/x")).toBeUndefined();
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/dogs")).toBeUndefined();
    expect(match("/v1/files/{bucket}", "/v1/files/")).toBeUndefined();
  });

  test("** needs at least one non-empty segment", () => {
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/dogs/")).toBeUndefined();
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/dogs/a//b")).toBeUndefined();
  });

  test("a literal prefix takes the rest of its segment, at least one character", () => {
    expect(match("/v1/files/session:{upload_id}", "/v1/files/session:abc")).toEqual({ upload_id: "abc" });
    expect(match("/v1/files/session:{upload_id}", "/v1/files/session:")).toBeUndefined();
    expect(match("/v1/files/session:{upload_id}", "/v1/files/session")).toBeUndefined();
    expect(match("/v1/files/session:{upload_id}", "/v1/files/sessions:abc")).toBeUndefined();
  });

  test("single-segment variables are fully percent-decoded: %2F is a character, not a separator", () => {
    expect(match("/v1/files/{bucket}", "/v1/files/a%2Fb")).toEqual({ bucket: "a/b" });
    expect(match("/v1/files/{bucket}", "/v1/files/caf%C3%A9")).toEqual({ bucket: "café" });
  });

  test("multi-segment variables are decoded except %2F", () => {
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/b/a%2Fb/c%20d")).toEqual({ bucket: "b", key: "a%2Fb/c d" });
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/b/x%2fy")).toEqual({ bucket: "b", key: "x%2fy" });
  });

  test("literals compare decoded; malformed escapes match nothing", () => {
    expect(match("/v1/files/{bucket}", "/v1/fil%65s/dogs")).toEqual({ bucket: "dogs" });
    expect(match("/v1/files/{bucket}", "/v1/files/%E0%A4%A")).toBeUndefined();
    expect(match("/v1/files/{bucket}/{key=**}", "/v1/files/b/%zz")).toBeUndefined();
  });

  test("literal parts of a multi-segment variable are part of its value", () => {
    expect(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b2")).toEqual({ name: "shelves/s1/books/b2" });
    expect(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/novels/b2")).toBeUndefined();
  });
});
