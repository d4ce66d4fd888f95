/**
 * Path-template parsing cases ported from grpc-ecosystem/grpc-httpjson-transcoding
 * (test/http_template_test.cc, and the InvalidTemplates test of test/path_matcher_test.cc),
 * the library under Envoy's gRPC-JSON transcoder. Upstream is Apache-2.0 licensed; these are its
 * cases rewritten as data, not its code. Ids are "<upstream TEST name>" plus "#n" where one
 * upstream test checks several templates.
 *
 * The expected shape is upstream's: segments with every variable expanded (`{x}` → "*"), and per
 * variable its field path, the segments it spans as [start, end) — `end` counted from the end of
 * the template (-1 = the last segment) when the variable holds a "**" — and whether it holds one.
 */

/** One variable as upstream's HttpTemplate::Variable describes it. */
export interface TemplateVariable {
  fieldPath: string;
  start: number;
  end: number;
  wildcard: boolean;
}

/** What parsing a template gives: its shape, or "error" (refused). */
export type TemplateOutcome = { segments: string[]; verb: string; variables: TemplateVariable[] } | "error";

/** One ported parsing case. */
export interface TemplateCase {
  id: string;
  template: string;
  /** Upstream's result. */
  expected: TemplateOutcome;
  /** Why we differ, when we do; `actual` is then what we do, and is asserted. */
  deviation?: string;
  actual?: TemplateOutcome;
}

const v = (fieldPath: string, start: number, end: number, wildcard = false): TemplateVariable => ({
  fieldPath,
  start,
  end,
  wildcard,
});
const shape = (segments: string[], verb: string, ...variables: TemplateVariable[]): TemplateOutcome => ({
  segments,
  verb,
  variables,
});

/** Deviation reasons shared by several cases (docs/transcoding-conformance.md lists them). */
export const reasons = {
  doubleWildcardLast:
    'google.api.HttpRule says "**" must be the last segment (before the verb). Envoy also accepts literal ' +
    "segments after it; we refuse such a template at start-up (RouteError), so it cannot misroute.",
  literalPrefix:
    "Our one extension: a literal may share a segment with a single-segment variable " +
    "(`/v1/files/session:{upload_id}`); upstream refuses every such template.",
};

/**
 * Templates upstream refuses that our literal-prefix extension accepts, with what we parse them to
 * (a literal prefix shows as "<prefix>*").
 */
const acceptedByExtension: Record<string, TemplateOutcome> = {
  "/a{x}": shape(["a*"], "", v("x", 0, 1)),
  "/a/b{x}": shape(["a", "b*"], "", v("x", 1, 2)),
  "/a/b{x}/s": shape(["a", "b*", "s"], "", v("x", 1, 2)),
};

export const templateCases: TemplateCase[] = [
  {
    id: "ParseTest1",
    template: "/shelves/{shelf}/books/{book}",
    expected: shape(["shelves", "*", "books", "*"], "", v("shelf", 1, 2), v("book", 3, 4)),
  },
  { id: "ParseTest2", template: "/shelves/**", expected: shape(["shelves", "**"], "") },
  { id: "ParseTest3a", template: "/**", expected: shape(["**"], "") },
  { id: "ParseTest3b", template: "/*", expected: shape(["*"], "") },
  { id: "ParseTest4a", template: "/a:foo", expected: shape(["a"], "foo") },
  { id: "ParseTest4b", template: "/a/b/c:foo", expected: shape(["a", "b", "c"], "foo") },
  { id: "ParseTest5", template: "/*/**", expected: shape(["*", "**"], "") },
  { id: "ParseTest6", template: "/*/a/**", expected: shape(["*", "a", "**"], "") },
  { id: "ParseTest7", template: "/a/{a.b.c}", expected: shape(["a", "*"], "", v("a.b.c", 1, 2)) },
  { id: "ParseTest8", template: "/a/{a.b.c=*}", expected: shape(["a", "*"], "", v("a.b.c", 1, 2)) },
  { id: "ParseTest9", template: "/a/{b=*}", expected: shape(["a", "*"], "", v("b", 1, 2)) },
  { id: "ParseTest10", template: "/a/{b=**}", expected: shape(["a", "**"], "", v("b", 1, -1, true)) },
  { id: "ParseTest11", template: "/a/{b=c/*}", expected: shape(["a", "c", "*"], "", v("b", 1, 3)) },
  { id: "ParseTest12", template: "/a/{b=c/*/d}", expected: shape(["a", "c", "*", "d"], "", v("b", 1, 4)) },
  { id: "ParseTest13", template: "/a/{b=c/**}", expected: shape(["a", "c", "**"], "", v("b", 1, -1, true)) },
  {
    id: "ParseTest14",
    template: "/a/{b=c/**}/d/e",
    expected: shape(["a", "c", "**", "d", "e"], "", v("b", 1, -3, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  {
    id: "ParseTest15",
    template: "/a/{b=c/**/d}/e",
    expected: shape(["a", "c", "**", "d", "e"], "", v("b", 1, -2, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  {
    id: "ParseTest16",
    template: "/a/{b=c/**/d}/e:verb",
    expected: shape(["a", "c", "**", "d", "e"], "verb", v("b", 1, -2, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  { id: "CustomVerbTests#1", template: "/*:verb", expected: shape(["*"], "verb") },
  { id: "CustomVerbTests#2", template: "/**:verb", expected: shape(["**"], "verb") },
  { id: "CustomVerbTests#3", template: "/{a}:verb", expected: shape(["*"], "verb", v("a", 0, 1)) },
  { id: "CustomVerbTests#4", template: "/a/b/*:verb", expected: shape(["a", "b", "*"], "verb") },
  { id: "CustomVerbTests#5", template: "/a/b/**:verb", expected: shape(["a", "b", "**"], "verb") },
  { id: "CustomVerbTests#6", template: "/a/b/{a}:verb", expected: shape(["a", "b", "*"], "verb", v("a", 2, 3)) },
  { id: "MoreVariableTests#1", template: "/{x}", expected: shape(["*"], "", v("x", 0, 1)) },
  { id: "MoreVariableTests#2", template: "/{x.y.z}", expected: shape(["*"], "", v("x.y.z", 0, 1)) },
  { id: "MoreVariableTests#3", template: "/{x=*}", expected: shape(["*"], "", v("x", 0, 1)) },
  { id: "MoreVariableTests#4", template: "/{x=a/*}", expected: shape(["a", "*"], "", v("x", 0, 2)) },
  {
    id: "MoreVariableTests#5",
    template: "/{x.y.z=*/a/b}/c",
    expected: shape(["*", "a", "b", "c"], "", v("x.y.z", 0, 3)),
  },
  { id: "MoreVariableTests#6", template: "/{x=**}", expected: shape(["**"], "", v("x", 0, -1, true)) },
  { id: "MoreVariableTests#7", template: "/{x.y.z=**}", expected: shape(["**"], "", v("x.y.z", 0, -1, true)) },
  {
    id: "MoreVariableTests#8",
    template: "/{x.y.z=a/**/b}",
    expected: shape(["a", "**", "b"], "", v("x.y.z", 0, -1, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  {
    id: "MoreVariableTests#9",
    template: "/{x.y.z=a/**/b}/c/d",
    expected: shape(["a", "**", "b", "c", "d"], "", v("x.y.z", 0, -3, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  { id: "VariableAndCustomVerbTests#1", template: "/{x}:verb", expected: shape(["*"], "verb", v("x", 0, 1)) },
  { id: "VariableAndCustomVerbTests#2", template: "/{x.y.z}:verb", expected: shape(["*"], "verb", v("x.y.z", 0, 1)) },
  {
    id: "VariableAndCustomVerbTests#3",
    template: "/{x.y.z=*/*}:verb",
    expected: shape(["*", "*"], "verb", v("x.y.z", 0, 2)),
  },
  {
    id: "VariableAndCustomVerbTests#4",
    template: "/{x=**}:myverb",
    expected: shape(["**"], "myverb", v("x", 0, -1, true)),
  },
  {
    id: "VariableAndCustomVerbTests#5",
    template: "/{x.y.z=**}:myverb",
    expected: shape(["**"], "myverb", v("x.y.z", 0, -1, true)),
  },
  {
    id: "VariableAndCustomVerbTests#6",
    template: "/{x.y.z=a/**/b}:custom",
    expected: shape(["a", "**", "b"], "custom", v("x.y.z", 0, -1, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  {
    id: "VariableAndCustomVerbTests#7",
    template: "/{x.y.z=a/**/b}/c/d:custom",
    expected: shape(["a", "**", "b", "c", "d"], "custom", v("x.y.z", 0, -3, true)),
    deviation: reasons.doubleWildcardLast,
    actual: "error",
  },
  { id: "RootPATH", template: "/", expected: shape([], "") },
  { id: "ParseVerbTest2", template: "/a/*:verb", expected: shape(["a", "*"], "verb") },
  { id: "ParseVerbTest3", template: "/a/**:verb", expected: shape(["a", "**"], "verb") },
  { id: "ParseVerbTest4", template: "/a/{b=*}/**:verb", expected: shape(["a", "*", "**"], "verb", v("b", 1, 2)) },
  // Every template upstream refuses (ErrorTests, ParseNonVerbTest, and PathMatcherTest.InvalidTemplates).
  ...errorCases("ErrorTests", [
    "",
    "//",
    "/{}",
    "/a/",
    "/a//b",
    ":verb",
    "/:verb",
    "/a/:verb",
    ":",
    "/:",
    "/*:",
    "/**:",
    "/{var}:",
    "/a/b/:",
    "/a/b/*:",
    "/a/b/**:",
    "/a/b/{var}:",
    "/a/{",
    "/a/{var",
    "/a/{var.",
    "/a/{x=var:verb}",
    "a",
    "{x}",
    "{x=/a}",
    "{x=/a/b}",
    "a/b",
    "a/b/{x}",
    "a/{x}/b",
    "a/{x}/b:verb",
    "/a/{var=/b}",
    "/{var=a/{nested=b}}",
    "/a{x}",
    "/{x}a",
    "/a{x}b",
    "/{x}a{y}",
    "/a/b{x}",
    "/a/{x}b",
    "/a/b{x}c",
    "/a/{x}b{y}",
    "/a/b{x}/s",
    "/a/{x}b/s",
    "/a/b{x}c/s",
    "/a/{x}b{y}/s",
  ]),
  ...errorCases("ParseNonVerbTest", [":", "/:", "/a/:", "/a/*:", "/a/**:", "/a/{b=*}/**:"]),
  ...errorCases("PathMatcherTest.InvalidTemplates", [
    "/a{x=b/**}/{y=*}",
    "/a{x=b/**}/bb/{y=*}",
    "/a{x=b/**}/{y=**}",
    "/a{x=b/**}/bb/{y=**}",
    "/a/**/*",
    "/a/**/foo/*",
    "/a/**/**",
    "/a/**/foo/**",
  ]),
];

function errorCases(test: string, templates: string[]): TemplateCase[] {
  return templates.map((template, i) => {
    const c: TemplateCase = { id: `${test}#${i + 1} ${JSON.stringify(template)}`, template, expected: "error" };
    const actual = acceptedByExtension[template];
    return actual ? { ...c, deviation: reasons.literalPrefix, actual } : c;
  });
}
