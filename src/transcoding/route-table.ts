/**
 * The REST routes of a set of RPC methods, read from their google.api.http options (and
 * additional_bindings), and the matching of a request to one of them.
 *
 * Choosing among routes: a path whose last segment ends in ":<verb>" is first tried as that verb
 * when some route declares it (so "shiba.jpg:content" downloads, but "cat.jpg" is just a key);
 * among matching templates the most specific wins, segment by segment (a literal before a literal
 * prefix with a variable before a variable before "**"). A path that matches with another HTTP
 * method answers 405 with those methods in Allow; a path that matches nothing answers 404. Two
 * routes that no path could tell apart are refused when the table is built.
 */
import { getOption, hasOption, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { rest, type RestOptions } from "../../gen/transcoding/v1/annotations_pb.js";
import { resolveFieldPath } from "./field-paths.js";
import {
  matchPathTemplate,
  parsePathTemplate,
  specificity,
  type Bindings,
  type PathTemplate,
} from "./path-template.js";

/** One HTTP binding of one RPC method. */
export interface Route {
  method: DescMethod;
  /** Upper-case HTTP method. */
  httpMethod: string;
  template: PathTemplate;
  /** "" (no body), "*" (the whole request) or the name of the request field the body fills. */
  body: string;
  /** The request field the body fills, when `body` names one. */
  bodyField?: DescField;
  /** The response field that is the HTTP body; undefined: the whole response. */
  responseBodyField?: DescField;
  /** Our options beyond google.api.http, if the method has them. */
  rest?: RestOptions;
}

/** The outcome of matching a request. */
export type RouteMatch =
  | { kind: "found"; route: Route; bindings: Bindings }
  | { kind: "method_not_allowed"; allow: string[] }
  | { kind: "not_found" };

/** Routes of methods, ready for matching. */
export interface RouteTable {
  routes: readonly Route[];
  match(httpMethod: string, rawPath: string): RouteMatch;
}

/** Thrown at start-up when an annotation cannot be served; the message names the method. */
export class RouteError extends Error {
  constructor(method: DescMethod, problem: string) {
    super(`${method.parent.typeName}.${method.name}: ${problem}`);
    this.name = "RouteError";
  }
}

/** Builds the route table of every method that has a google.api.http option. */
export function createRouteTable(methods: Iterable<DescMethod>): RouteTable {
  const routes: Route[] = [];
  for (const method of methods) {
    if (!hasOption(method, http)) continue;
    const rule = getOption(method, http);
    const restOptions = hasOption(method, rest) ? getOption(method, rest) : undefined;
    for (const binding of [rule, ...rule.additionalBindings]) routes.push(compileRule(method, binding, restOptions));
  }
  refuseDuplicates(routes);
  const verbs = new Set(routes.flatMap((r) => (r.template.verb ? [r.template.verb] : [])));
  return { routes, match: (httpMethod, rawPath) => matchRoute(routes, verbs, httpMethod.toUpperCase(), rawPath) };
}

/**
 * Two routes of one HTTP method whose templates match the same paths (variable names aside) can't
 * be told apart; rather than let the first silently win, the table is refused (upstream answers
 * such a path with no route at all).
 */
function refuseDuplicates(routes: readonly Route[]): void {
  const seen = new Map<string, Route>();
  for (const route of routes) {
    const { segments, verb } = route.template;
    const shape = segments.map((s) => (s.kind === "literal" ? s.value : s.kind === "multi" ? "**" : `${s.prefix}*`));
    const key = `${route.httpMethod} /${shape.join("/")}${verb === undefined ? "" : `:${verb}`}`;
    const first = seen.get(key);
    if (first)
      throw new RouteError(
        route.method,
        `${key} is also the route of ${first.method.parent.typeName}.${first.method.name}`,
      );
    seen.set(key, route);
  }
}

function compileRule(method: DescMethod, rule: HttpRule, restOptions: RestOptions | undefined): Route {
  const fail = (problem: string): never => {
    throw new RouteError(method, problem);
  };
  const pattern = rule.pattern;
  if (pattern.case === undefined) fail("google.api.http has no method and path");
  const [httpMethod, path] =
    pattern.case === "custom"
      ? [pattern.value!.kind.toUpperCase(), pattern.value!.path]
      : [pattern.case!.toUpperCase(), pattern.value as string];
  let template: PathTemplate;
  try {
    template = parsePathTemplate(path);
  } catch (err) {
    return fail((err as Error).message);
  }
  const route: Route = { method, httpMethod, template, body: rule.body, rest: restOptions };
  const check = (schema: DescMessage, fieldPath: string, what: string) => {
    try {
      return resolveFieldPath(schema, fieldPath);
    } catch (err) {
      return fail(`${what}: ${(err as Error).message}`);
    }
  };
  for (const variable of template.variables) {
    const leaf = check(method.input, variable.join("."), "path variable").at(-1)!;
    if (leaf.fieldKind !== "scalar" && leaf.fieldKind !== "enum")
      fail(`path variable ${variable.join(".")} must be a scalar field`);
  }
  // HttpRule: "the referred field must be present at the top-level of the request message type".
  if (rule.body.includes(".")) fail(`body ${rule.body} must name a top-level field of the request`);
  if (rule.body !== "" && rule.body !== "*") route.bodyField = check(method.input, rule.body, "body").at(-1);
  if (rule.responseBody !== "")
    route.responseBodyField = check(method.output, rule.responseBody, "response_body").at(-1);
  if (rule.body === "" && (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming")) {
    fail("a client-streaming method needs a body");
  }
  // Our own options name fields too: a typo must stop the start, not fail every request later.
  for (const h of restOptions?.requestHeaders ?? []) check(method.input, h.field, `request header ${h.header}`);
  for (const h of restOptions?.responseHeaders ?? []) check(method.output, h.field, `response header ${h.header}`);
  const download = restOptions?.download;
  if (download) {
    const metadata = check(method.output, download.metadata, "download metadata").at(-1)!;
    if (!metadata.message) fail(`download metadata ${download.metadata} must be a message field`);
    check(method.output, download.content, "download content");
    for (const [name, path] of [
      ["size", download.size],
      ["content_type", download.contentType],
      ["etag", download.etag],
      ["filename", download.filename],
    ] as const) {
      if (path) check(metadata.message!, path, `download ${name}`);
    }
    for (const [name, path] of [
      ["range_offset", download.rangeOffset],
      ["range_limit", download.rangeLimit],
    ] as const) {
      if (path) check(method.input, path, `download ${name}`);
    }
  }
  return route;
}

function matchRoute(
  routes: readonly Route[],
  verbs: ReadonlySet<string>,
  httpMethod: string,
  rawPath: string,
): RouteMatch {
  if (!rawPath.startsWith("/")) return { kind: "not_found" };
  const segments = rawPath.slice(1).split("/");
  const last = segments[segments.length - 1];
  const colon = last.lastIndexOf(":");
  const tries: { verb?: string; segments: string[] }[] = [];
  if (colon > 0 && verbs.has(last.slice(colon + 1)))
    tries.push({ verb: last.slice(colon + 1), segments: [...segments.slice(0, -1), last.slice(0, colon)] });
  tries.push({ segments });

  for (const attempt of tries) {
    const matches: { route: Route; bindings: Bindings }[] = [];
    for (const route of routes) {
      if (route.template.verb !== attempt.verb) continue;
      const bindings = matchPathTemplate(route.template, attempt.segments);
      if (bindings) matches.push({ route, bindings });
    }
    if (matches.length === 0) continue;
    // HEAD is served by the GET route.
    const wanted = (m: { route: Route }) =>
      m.route.httpMethod === httpMethod || (httpMethod === "HEAD" && m.route.httpMethod === "GET");
    const candidates = matches.filter(wanted);
    if (candidates.length === 0) {
      const allow = new Set(matches.map((m) => m.route.httpMethod));
      if (allow.has("GET")) allow.add("HEAD");
      return { kind: "method_not_allowed", allow: [...allow].sort() };
    }
    candidates.sort((a, b) => compareSpecificity(specificity(b.route.template), specificity(a.route.template)));
    return { kind: "found", ...candidates[0] };
  }
  return { kind: "not_found" };
}

function compareSpecificity(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
