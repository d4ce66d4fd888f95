/**
 * Runs the upstream template-parsing cases (http-template-cases.ts) against parsePathTemplate.
 * A case passes when we parse to upstream's shape (or refuse what upstream refuses); a deviation
 * passes only when we still do exactly what its `actual` says.
 */
import { parsePathTemplate, PathTemplateError, type PathTemplate } from "../../../../src/transcoding/path-template.js";
import { templateCases, type TemplateOutcome } from "./http-template-cases.js";

/** Our parse, in upstream's terms (see the data file for what start/end mean). */
function outcome(source: string): TemplateOutcome {
  let t: PathTemplate;
  try {
    t = parsePathTemplate(source);
  } catch (err) {
    if (err instanceof PathTemplateError) return "error";
    throw err;
  }
  const segments = t.segments.map((s) => (s.kind === "literal" ? s.value : s.kind === "multi" ? "**" : `${s.prefix}*`));
  const variables = t.variables.map((field, i) => {
    const spans = t.segments.flatMap((s, at) => (s.variable === i ? [at] : []));
    const wildcard = spans.some((at) => t.segments[at].kind === "multi");
    const last = spans[spans.length - 1];
    return { fieldPath: field.join("."), start: spans[0], end: wildcard ? last - segments.length : last + 1, wildcard };
  });
  return { segments, verb: t.verb ?? "", variables };
}

describe("google.api.http template parsing (grpc-httpjson-transcoding http_template_test)", () => {
  const conforming = templateCases.filter((c) => !c.deviation);
  const deviating = templateCases.filter((c) => c.deviation);

  test.each(conforming.map((c) => [c.id, c] as const))("%s", (_, c) => {
    expect(outcome(c.template)).toEqual(c.expected);
  });

  if (deviating.length > 0)
    test.each(deviating.map((c) => [c.id, c] as const))("deviation: %s", (_, c) => {
      expect(c.actual).toBeDefined();
      expect(c.actual).not.toEqual(c.expected); // else it is no longer a deviation: move it to conforming
      expect(outcome(c.template)).toEqual(c.actual);
    });
});
