/**
 * google.api.HttpRule path templates: parsing, and matching one request path against one template.
 *
 *   Template = "/" | "/" Segments [ Verb ] ;                  (a lone "/" is the root)
 *   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable | LITERAL Variable ;   (the last one: our extension)
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   Verb     = ":" LITERAL ;
 *
 * Extension: a literal prefix may share a segment with a single-segment variable, as in
 * `/v1/files/session:{upload_id}`; the variable takes the rest of the segment (at least one
 * character). The official grammar has no such form; it is what the files contract needs.
 *
 * Decoding follows the HttpRule rules: a single-segment variable is fully percent-decoded (so `%2F`
 * is a character of the value, not a separator); a multi-segment one is decoded except `%2F`.
 */

/** One segment of a compiled template. */
export type TemplateSegment =
  /** A fixed segment; inside a variable (`{name=shelves/*}`) it is part of the value. */
  | { kind: "literal"; value: string; variable?: number }
  /** One path segment (`*`, `{x}`, `prefix{x}`); `variable` indexes Template.variables. */
  | { kind: "single"; prefix: string; variable?: number }
  /** One or more path segments (`**`, `{x=**}`); only as the last segment. */
  | { kind: "multi"; variable?: number };

/** A parsed path template. */
export interface PathTemplate {
  /** The template as written. */
  source: string;
  segments: TemplateSegment[];
  /** The verb after the last segment (`:content` → "content"), if any. */
  verb?: string;
  /** The field paths the variables bind, in order of appearance. */
  variables: string[][];
  /** Per variable: does it span several segments (then `%2F` in its value stays encoded)? */
  multiSegment: boolean[];
}

/** A template that does not parse; the message says where. */
export class PathTemplateError extends Error {
  constructor(template: string, problem: string) {
    super(`path template ${JSON.stringify(template)}: ${problem}`);
    this.name = "PathTemplateError";
  }
}

const literalPattern = /^[A-Za-z0-9\-._~!$&'()+,;=@:%]+$/;
const fieldPathPattern = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Parses a template; throws PathTemplateError when it is not of the grammar above. */
export function parsePathTemplate(source: string): PathTemplate {
  const fail = (problem: string): never => {
    throw new PathTemplateError(source, problem);
  };
  if (!source.startsWith("/")) fail('it must start with "/"');
  // The root: no segments at all (upstream's RootPATH case); "/:verb" is still refused below.
  if (source === "/") return { source, segments: [], verb: undefined, variables: [], multiSegment: [] };
  let body = source.slice(1);
  let verb: string | undefined;
  // A verb is a ":" and a literal at the very end, outside any variable; a colon followed by a
  // variable (`session:{upload_id}`) belongs to a segment.
  const lastColon = body.lastIndexOf(":");
  if (lastColon >= 0 && !/[/{}]/.test(body.slice(lastColon)) && depthAt(body, lastColon) === 0) {
    verb = body.slice(lastColon + 1);
    body = body.slice(0, lastColon);
    if (!literalPattern.test(verb) || verb.includes(":")) fail(`verb ${JSON.stringify(verb)} is not a literal`);
  }
  const variables: string[][] = [];
  const segments = parseSegments(splitOutsideBraces(body, fail), variables, fail, false);
  segments.forEach((s, i) => {
    if (s.kind === "multi" && i !== segments.length - 1) fail('"**" must be the last segment');
  });
  const seen = new Set<string>();
  for (const v of variables) {
    const key = v.join(".");
    if (seen.has(key)) fail(`field ${key} is bound twice`);
    seen.add(key);
  }
  const multiSegment = variables.map(
    (_, i) =>
      segments.filter((s) => s.variable === i).length > 1 ||
      segments.some((s) => s.kind === "multi" && s.variable === i),
  );
  return { source, segments, verb, variables, multiSegment };
}

function depthAt(text: string, index: number): number {
  let depth = 0;
  for (let i = 0; i < index; i++) depth += text[i] === "{" ? 1 : text[i] === "}" ? -1 : 0;
  return depth;
}

function splitOutsideBraces(body: string, fail: (p: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of body) {
    if (c === "{") depth++;
    if (c === "}") depth--;
    if (depth < 0 || depth > 1) fail("unbalanced or nested braces");
    if (c === "/" && depth === 0) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  if (depth !== 0) fail("unbalanced braces");
  parts.push(current);
  return parts;
}

function parseSegments(
  parts: string[],
  variables: string[][],
  fail: (p: string) => never,
  insideVariable: boolean,
): TemplateSegment[] {
  const out: TemplateSegment[] = [];
  for (const part of parts) {
    if (part === "") fail("empty segment");
    if (part === "*") out.push({ kind: "single", prefix: "" });
    else if (part === "**") out.push({ kind: "multi" });
    else if (part.includes("{")) {
      if (insideVariable) fail("variables cannot nest");
      const open = part.indexOf("{");
      const prefix = part.slice(0, open);
      if (!part.endsWith("}")) fail(`segment ${JSON.stringify(part)}: a variable must end its segment`);
      if (prefix !== "" && !literalPattern.test(prefix)) fail(`segment ${JSON.stringify(part)}: invalid literal`);
      const inner = part.slice(open + 1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = eq < 0 ? inner : inner.slice(0, eq);
      if (!fieldPathPattern.test(fieldPath)) fail(`invalid field path ${JSON.stringify(fieldPath)}`);
      const index = variables.length;
      variables.push(fieldPath.split("."));
      const sub =
        eq < 0
          ? [{ kind: "single", prefix: "" } as TemplateSegment]
          : parseSegments(inner.slice(eq + 1).split("/"), variables, fail, true);
      if (prefix !== "" && (sub.length !== 1 || sub[0].kind !== "single" || sub[0].prefix !== "")) {
        fail(`segment ${JSON.stringify(part)}: a variable after a literal prefix must be a single segment`);
      }
      for (const s of sub) out.push({ ...s, variable: index, ...(s.kind === "single" ? { prefix } : {}) });
    } else {
      if (!literalPattern.test(part)) fail(`segment ${JSON.stringify(part)} is not a literal`);
      // A colon starts the verb; only a literal prefix of our extension (`session:{id}`) holds one.
      if (part.includes(":")) fail(`segment ${JSON.stringify(part)}: a colon may only start the verb`);
      out.push({ kind: "literal", value: part });
    }
  }
  return out;
}

/** What a match binds: field path (dotted) → decoded value. */
export type Bindings = Map<string, string>;

/**
 * Matches the raw (still percent-encoded) path segments — without the verb — against a template.
 * Answers the bindings, or undefined when the path does not match (or does not decode).
 */
export function matchPathTemplate(template: PathTemplate, rawSegments: readonly string[]): Bindings | undefined {
  const { segments } = template;
  // The root template matches the path "/" (one empty raw segment) and nothing else.
  if (segments.length === 0) return rawSegments.length === 1 && rawSegments[0] === "" ? new Map() : undefined;
  const last = segments[segments.length - 1];
  const multi = last?.kind === "multi";
  if (multi ? rawSegments.length < segments.length : rawSegments.length !== segments.length) return undefined;
  const captured: string[][] = template.variables.map(() => []);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg.kind === "multi") {
      const rest = rawSegments.slice(i);
      if (rest.some((s) => s === "")) return undefined;
      const value = decodeMulti(rest.join("/"));
      if (value === undefined) return undefined;
      if (seg.variable !== undefined) captured[seg.variable].push(value);
      break;
    }
    const decoded = decodeSegment(rawSegments[i]);
    if (decoded === undefined) return undefined;
    if (
      seg.kind === "literal"
        ? decoded !== seg.value
        : decoded.length <= seg.prefix.length || !decoded.startsWith(seg.prefix)
    )
      return undefined;
    if (seg.variable !== undefined) {
      const value = template.multiSegment[seg.variable] ? decodeMulti(rawSegments[i])! : decoded;
      captured[seg.variable].push(seg.kind === "single" ? value.slice(seg.prefix.length) : value);
    }
  }
  const bindings: Bindings = new Map();
  for (const [i, field] of template.variables.entries()) bindings.set(field.join("."), captured[i].join("/"));
  return bindings;
}

/**
 * How specific a template is, segment by segment, for choosing among templates that all match:
 * literal 3, literal prefix + variable 2, variable or `*` 1, `**` 0. Compare lexicographically.
 */
export function specificity(template: PathTemplate): number[] {
  return template.segments.map((s) => (s.kind === "literal" ? 3 : s.kind === "single" ? (s.prefix ? 2 : 1) : 0));
}

function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined; // malformed escape: no template matches
  }
}

function decodeMulti(raw: string): string | undefined {
  // Everything but %2F: an encoded slash stays encoded, so it can't pose as a separator.
  const parts = raw.split(/%2F/i);
  const decoded = parts.map(decodeSegment);
  if (decoded.some((p) => p === undefined)) return undefined;
  const separators = raw.match(/%2F/gi) ?? [];
  return decoded.map((p, i) => p + (i < separators.length ? separators[i] : "")).join("");
}
