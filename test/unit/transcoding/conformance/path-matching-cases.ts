/**
 * Path-matching cases ported from grpc-ecosystem/grpc-httpjson-transcoding
 * (test/path_matcher_test.cc), the library under Envoy's gRPC-JSON transcoder. Upstream is
 * Apache-2.0 licensed; these are its cases rewritten as data, not its code. Each case is one
 * upstream TEST_F (same name): the routes it registers, and the lookups it makes with what upstream
 * answers. The query-parameter tests of that file are in query-binding-cases.ts.
 */

/** A route: its name (upstream's variable name for it), HTTP method and template. */
export interface MatcherRoute {
  name: string;
  method: string;
  template: string;
  /** HttpRule.body, for the one test that looks at it. */
  body?: string;
  /** Set when we refuse this template at start-up (a deviation); the reason. */
  refused?: string;
}

/** What a lookup answers: the route (by name) with its bindings, or null for no route. */
export type MatchOutcome = { route: string; bindings: Record<string, string>; body?: string } | null;

/** One lookup of one case. */
export interface Lookup {
  method: string;
  /** The request target as upstream passes it (path, maybe "?query"). */
  path: string;
  expected: MatchOutcome;
  /** Why we differ; `actual` is what we answer, and is asserted. */
  deviation?: string;
  actual?: MatchOutcome;
}

/** One upstream test: its routes and lookups. */
export interface MatcherCase {
  id: string;
  routes: MatcherRoute[];
  lookups: Lookup[];
  /** Set when we refuse the whole route set at start-up (a deviation): the reason. */
  refusedTable?: string;
}

/** Deviation reasons shared by several lookups (docs/transcoding-conformance.md lists them). */
export const reasons = {
  doubleWildcardLast:
    'google.api.HttpRule says "**" must be the last segment (before the verb). Envoy also accepts literal ' +
    "segments after it; we refuse such a template at start-up, so this lookup finds another route or none.",
  nonEmptyWildcard:
    '"**" matches one or more non-empty segments here, and a trailing slash is not dropped: in the files ' +
    "contract `/v1/files/dogs/` names no object (404) rather than binding an empty key.",
  reservedDecoding:
    "HttpRule: a multi-segment variable is percent-decoded except %2F (upstream's kAllCharactersExceptSlash). " +
    "Envoy's default keeps every reserved character encoded; the other modes are options we do not offer.",
  unregisteredVerb:
    "match_unregistered_custom_verb is an Envoy option we do not offer: a colon suffix that no route declares " +
    "as a verb stays part of the segment, as in upstream's default (CustomVerbIssue).",
  duplicates:
    "Two routes of one method and one path shape are refused at start-up (RouteError), where upstream " +
    "registers them and answers no route (or, opted in, refuses the second).",
  nestedBody:
    "google.api.HttpRule: `body` names a top-level request field. Upstream also takes a dotted path; we " +
    "refuse one at start-up.",
};

const get = (name: string, template: string, extra: Partial<MatcherRoute> = {}): MatcherRoute => ({
  name,
  method: "GET",
  template,
  ...extra,
});
const refusedGet = (name: string, template: string) => get(name, template, { refused: reasons.doubleWildcardLast });
const to = (route: string, bindings: Record<string, string> = {}): MatchOutcome => ({ route, bindings });
const lookup = (path: string, expected: MatchOutcome, deviation?: { reason: string; actual: MatchOutcome }) => ({
  method: "GET",
  path,
  expected,
  ...(deviation && { deviation: deviation.reason, actual: deviation.actual }),
});
const refusedRoute = (actual: MatchOutcome) => ({ reason: reasons.doubleWildcardLast, actual });

/** Every reserved character, percent-encoded (upstream's MultiSegmentMatchWithReservedCharactersBase). */
const reservedEncoded = "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D";
const reservedDecoded = "!#$&'()*+,/:;=?@[]";

/**
 * The four reserved-character tests. Upstream's template `/a/{x=*}/{y=**}/c` has a literal after
 * "**", which we refuse; so each is also run as an adapted variant without the "/c", which keeps
 * what the test is about (how each kind of variable decodes).
 */
function reservedCase(id: string, expectedY: string, deviates: boolean): MatcherCase {
  const ours = "!#$&'()*+,%2F:;=?@[]";
  const path = `/a/${reservedEncoded}/${reservedEncoded}`;
  const adapted = { route: "a__", bindings: { x: reservedDecoded, y: expectedY } };
  return {
    id,
    routes: [refusedGet("a__c", "/a/{x=*}/{y=**}/c"), get("a__", "/a/{x=*}/{y=**}")],
    lookups: [
      // Without a__c, the adapted route takes the "/c" into y.
      lookup(
        `${path}/c`,
        to("a__c", { x: reservedDecoded, y: expectedY }),
        refusedRoute(to("a__", { x: reservedDecoded, y: `${ours}/c` })),
      ),
      {
        ...lookup(path, adapted),
        ...(deviates && { deviation: reasons.reservedDecoding, actual: to("a__", { x: reservedDecoded, y: ours }) }),
      },
    ],
  };
}

function hex(c: number, upper: boolean): string {
  const h = c.toString(16).padStart(2, "0");
  return upper ? h.toUpperCase() : h;
}

export const matcherCases: MatcherCase[] = [
  {
    id: "WildCardMatchesRoot",
    routes: [get("data", "/**")],
    lookups: [
      lookup("/", to("data"), { reason: reasons.nonEmptyWildcard, actual: null }),
      lookup("/a", to("data")),
      lookup("/a/", to("data"), { reason: reasons.nonEmptyWildcard, actual: null }),
    ],
  },
  {
    id: "WildCardMatches",
    routes: [
      get("a__", "/a/**"),
      get("b_", "/b/*"),
      get("c_d__", "/c/*/d/**"),
      get("c_de", "/c/*/d/e"),
      get("cfde", "/c/f/d/e"),
      get("root", "/"),
    ],
    lookups: [
      lookup("/a/b", to("a__")),
      lookup("/a/b/c", to("a__")),
      lookup("/b/c", to("b_")),
      lookup("b/c/d", null),
      lookup("/c/u/d/v", to("c_d__")),
      lookup("/c/v/d/w/x", to("c_d__")),
      lookup("/c/x/y/d/z", null),
      lookup("/c//v/d/w/x", null),
      lookup("/c/x/d/e", to("c_de")),
      lookup("/c/f/d/e", to("cfde")),
      lookup("/", to("root")),
    ],
  },
  {
    id: "VariableBindings",
    routes: [
      get("a_cde", "/a/{x}/c/d/e"),
      get("a_b_c", "/{x=a/*}/b/{y=*}/c"),
      get("ab_d__", "/a/{x=b/*}/{y=d/**}"),
      refusedGet("alpha_beta__gamma", "/alpha/{x=*}/beta/{y=**}/gamma"),
      get("_a", "/{x=*}/a"),
      refusedGet("__ab", "/{x=**}/a/b"),
      get("ab_", "/a/b/{x=*}"),
      get("abc__", "/a/b/c/{x=**}"),
      get("_def__", "/{x=*}/d/e/f/{y=**}"),
    ],
    lookups: [
      lookup("/a/book/c/d/e", to("a_cde", { x: "book" })),
      lookup("/a/hello/b/world/c", to("a_b_c", { x: "a/hello", y: "world" })),
      lookup("/a/b/zoo/d/animal/tiger", to("ab_d__", { x: "b/zoo", y: "d/animal/tiger" })),
      lookup(
        "/alpha/dog/beta/eat/bones/gamma",
        to("alpha_beta__gamma", { x: "dog", y: "eat/bones" }),
        refusedRoute(null),
      ),
      lookup("/foo/a", to("_a", { x: "foo" })),
      lookup("/foo/bar/a/b", to("__ab", { x: "foo/bar" }), refusedRoute(null)),
      lookup("/a/b/foo", to("ab_", { x: "foo" })),
      lookup("/a/b/c/foo/bar/baz", to("abc__", { x: "foo/bar/baz" })),
      lookup("/foo/d/e/f/bar/baz", to("_def__", { x: "foo", y: "bar/baz" })),
    ],
  },
  {
    id: "PercentEscapesUnescapedForSingleSegment",
    routes: [get("a_c", "/a/{x}/c")],
    lookups: [lookup("/a/p%20q%2Fr+/c", to("a_c", { x: "p q/r+" }))],
  },
  {
    id: "PercentEscapesUnescapedForSingleSegmentAllAsciiChars",
    routes: [get("a_c", "/{x}")],
    lookups: [false, true].flatMap((upper) =>
      Array.from({ length: 0x7f }, (_, c) => lookup(`/%${hex(c, upper)}`, to("a_c", { x: String.fromCharCode(c) }))),
    ),
  },
  {
    id: "PercentEscapesNotUnescapedForMultiSegment1",
    routes: [get("ap_q_c", "/a/{x=p/*/q/*}/c")],
    lookups: [lookup("/a/p/foo%20foo/q/bar%2Fbar/c", to("ap_q_c", { x: "p/foo foo/q/bar%2Fbar" }))],
  },
  {
    id: "PercentEscapesNotUnescapedForMultiSegment2",
    // Upstream's "/a/{x=**}/c" is refused; the adapted "/a/{x=**}" keeps the decoding under test.
    routes: [refusedGet("a__c", "/a/{x=**}/c"), get("a__", "/a/{x=**}")],
    lookups: [
      lookup(
        "/a/p/foo%20foo/q/bar%2Fbar+/c",
        to("a__c", { x: "p/foo foo/q/bar%2Fbar+" }),
        refusedRoute(to("a__", { x: "p/foo foo/q/bar%2Fbar+/c" })),
      ),
      lookup("/a/p/foo%20foo/q/bar%2Fbar+", to("a__", { x: "p/foo foo/q/bar%2Fbar+" })),
    ],
  },
  reservedCase(
    "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptReservedImplicit",
    reservedEncoded,
    true,
  ),
  reservedCase(
    "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptReservedExplicit",
    reservedEncoded,
    true,
  ),
  reservedCase(
    "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptSlash",
    "!#$&'()*+,%2F:;=?@[]",
    false,
  ),
  reservedCase("OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAll", reservedDecoded, true),
  {
    id: "CustomVerbIssue",
    routes: [get("list_person", "/person"), get("get_person", "/person/{id=*}"), get("verb", "/{x=**}:verb")],
    lookups: [
      lookup("/person:verb", to("verb", { x: "person" })),
      lookup("/person/jason:verb", to("verb", { x: "person/jason" })),
      lookup("/animal:verb", to("verb", { x: "animal" })),
      lookup("/animal/cat:verb", to("verb", { x: "animal/cat" })),
      lookup("/person", to("list_person")),
      lookup("/person/jason", to("get_person", { id: "jason" })),
      lookup("/animal", null),
      lookup("/animal/cat", null),
      lookup("/person:other", null),
      lookup("/person/jason:other", to("get_person", { id: "jason:other" })),
      lookup("/animal:other", null),
      lookup("/animal/cat:other", null),
    ],
  },
  {
    id: "MatchUnregisteredCustomVerb",
    routes: [
      get("get_person_1", "/person/{id=*}"),
      get("get_person_2", "/person/**"),
      get("get_person_3", "/person/{id=*}/name"),
      get("verb", "/{x=**}:verb"),
    ],
    lookups: [
      lookup("/person:verb", to("verb", { x: "person" })),
      lookup("/person/jason:verb", to("verb", { x: "person/jason" })),
      lookup("/person/jason/name", to("get_person_3", { id: "jason" })),
      lookup("/person/jason:verb/name", to("get_person_3", { id: "jason:verb" })),
      lookup("/animal:verb", to("verb", { x: "animal" })),
      lookup("/animal/cat:verb", to("verb", { x: "animal/cat" })),
      lookup("/person:other", null),
      lookup("/person/jason:other", null, {
        reason: reasons.unregisteredVerb,
        actual: to("get_person_1", { id: "jason:other" }),
      }),
      lookup("/animal:other", null),
      lookup("/animal/cat:other", null),
    ],
  },
  {
    id: "VariableBindingsWithCustomVerb",
    routes: [
      get("a_verb", "/a/{y=*}:verb"),
      get("ad__verb", "/a/{y=d/**}:verb"),
      get("_averb", "/{x=*}/a:verb"),
      refusedGet("__bverb", "/{x=**}/b:verb"),
      get("e_fverb", "/e/{x=*}/f:verb"),
      refusedGet("g__hverb", "/g/{x=**}/h:verb"),
    ],
    lookups: [
      lookup("/a/world:verb", to("a_verb", { y: "world" })),
      lookup("/a/d/animal/tiger:verb", to("ad__verb", { y: "d/animal/tiger" })),
      lookup("/foo/a:verb", to("_averb", { x: "foo" })),
      lookup("/foo/bar/baz/b:verb", to("__bverb", { x: "foo/bar/baz" }), refusedRoute(null)),
      lookup("/e/foo/f:verb", to("e_fverb", { x: "foo" })),
      lookup("/g/foo/bar/h:verb", to("g__hverb", { x: "foo/bar" }), refusedRoute(null)),
    ],
  },
  {
    id: "ConstantSuffixesWithVariable",
    routes: [
      get("ab__", "/a/{x=b/**}"),
      refusedGet("ab__z", "/a/{x=b/**}/z"),
      refusedGet("ab__yz", "/a/{x=b/**}/y/z"),
      get("ab__verb", "/a/{x=b/**}:verb"),
      get("a__", "/a/{x=**}"),
      refusedGet("c_d__e", "/c/{x=*}/{y=d/**}/e"),
      refusedGet("c_d__everb", "/c/{x=*}/{y=d/**}/e:verb"),
      refusedGet("f___g", "/f/{x=*}/{y=**}/g"),
      refusedGet("f___gverb", "/f/{x=*}/{y=**}/g:verb"),
      refusedGet("ab_yz__foo", "/a/{x=b/*/y/z/**}/foo"),
      refusedGet("ab___yzfoo", "/a/{x=b/*/**/y/z}/foo"),
    ],
    lookups: [
      lookup("/a/b/hello/world/c", to("ab__", { x: "b/hello/world/c" })),
      lookup("/a/b/world/c/z", to("ab__z", { x: "b/world/c" }), refusedRoute(to("ab__", { x: "b/world/c/z" }))),
      lookup("/a/b/world/c/y/z", to("ab__yz", { x: "b/world/c" }), refusedRoute(to("ab__", { x: "b/world/c/y/z" }))),
      lookup("/a/b/world/c:verb", to("ab__verb", { x: "b/world/c" })),
      lookup("/a/hello/b/world/c", to("a__", { x: "hello/b/world/c" })),
      lookup("/c/hello/d/esp/world/e", to("c_d__e", { x: "hello", y: "d/esp/world" }), refusedRoute(null)),
      lookup("/c/hola/d/esp/mundo/e:verb", to("c_d__everb", { x: "hola", y: "d/esp/mundo" }), refusedRoute(null)),
      lookup("/f/foo/bar/baz/g", to("f___g", { x: "foo", y: "bar/baz" }), refusedRoute(null)),
      lookup("/f/foo/bar/baz/g:verb", to("f___gverb", { x: "foo", y: "bar/baz" }), refusedRoute(null)),
      lookup(
        "/a/b/foo/y/z/bar/baz/foo",
        to("ab_yz__foo", { x: "b/foo/y/z/bar/baz" }),
        refusedRoute(to("ab__", { x: "b/foo/y/z/bar/baz/foo" })),
      ),
      lookup(
        "/a/b/foo/bar/baz/y/z/foo",
        to("ab___yzfoo", { x: "b/foo/bar/baz/y/z" }),
        refusedRoute(to("ab__", { x: "b/foo/bar/baz/y/z/foo" })),
      ),
    ],
  },
  {
    id: "CustomVerbMatches",
    routes: [
      get("some_const_verb", "/some/const:verb"),
      get("some__verb", "/some/*:verb"),
      get("some__foo_verb", "/some/*/foo:verb"),
      get("other__verb", "/other/**:verb"),
      refusedGet("other__const_verb", "/other/**/const:verb"),
    ],
    lookups: [
      lookup("/some/const:verb", to("some_const_verb")),
      lookup("/some/other:verb", to("some__verb")),
      lookup("/some/other:verb/", null),
      lookup("/some/bar/foo:verb", to("some__foo_verb")),
      lookup("/some/foo1/foo2/foo:verb", null),
      lookup("/some/foo/bar:verb", null),
      lookup("/other/bar/foo:verb", to("other__verb")),
      lookup("/other/bar/foo/const:verb", to("other__const_verb"), refusedRoute(to("other__verb"))),
    ],
  },
  {
    id: "CustomVerbMatch2",
    routes: [get("verb", "/{a=*}/{b=*}:verb")],
    lookups: [lookup("/some:verb/const:verb", to("verb", { a: "some:verb", b: "const" }))],
  },
  {
    id: "CustomVerbMatch3",
    routes: [get("verb", "/foo/{a=*}")],
    lookups: [lookup("/foo/other:verb", to("verb", { a: "other:verb" }))],
  },
  {
    id: "CustomVerbMatch4",
    routes: [get("a", "/foo/*/hello")],
    lookups: [lookup("/foo/other:verb/hello", to("a"))],
  },
  {
    id: "CustomVerbMatch5",
    routes: [get("verb", "/{a=**}:verb"), get("non_verb", "/{a=**}")],
    lookups: [
      lookup("/some:verb/const:verb", to("verb", { a: "some:verb/const" })),
      lookup("/some:verb/const", to("non_verb", { a: "some:verb/const" })),
      lookup("/some:verb2/const:verb2", to("non_verb", { a: "some:verb2/const:verb2" })),
    ],
  },
  {
    id: "RejectPartialMatches",
    routes: [
      get("prefix_middle_suffix", "/prefix/middle/suffix"),
      get("prefix_middle", "/prefix/middle"),
      get("prefix", "/prefix"),
    ],
    lookups: [
      lookup("/prefix/middle/suffix", to("prefix_middle_suffix")),
      lookup("/prefix/middle", to("prefix_middle")),
      lookup("/prefix", to("prefix")),
      lookup("/prefix/middle/suffix/other", null),
      lookup("/prefix/middle/other", null),
      lookup("/prefix/other", null),
      lookup("/other", null),
    ],
  },
  { id: "LookupReturnsNullIfMatcherEmpty", routes: [], lookups: [lookup("a/b/blue/foo", null)] },
  {
    id: "LookupSimplePaths",
    routes: [
      get("pms", "/prefix/middle/suffix"),
      get("pmo", "/prefix/middle/othersuffix"),
      get("pos", "/prefix/othermiddle/suffix"),
      get("oms", "/otherprefix/middle/suffix"),
      get("os", "/otherprefix/suffix"),
    ],
    lookups: [
      lookup("/prefix/not/a/path", null),
      lookup("/prefix/middle", null),
      lookup("/prefix/not/othermiddle", null),
      lookup("/otherprefix/suffix/othermiddle", null),
      lookup("/prefix/middle/suffix", to("pms")),
      lookup("/prefix/middle/othersuffix", to("pmo")),
      lookup("/prefix/othermiddle/suffix", to("pos")),
      lookup("/otherprefix/middle/suffix", to("oms")),
      lookup("/otherprefix/suffix", to("os")),
      lookup("/otherprefix/suffix?foo=bar", to("os")),
    ],
  },
  {
    id: "ReplacevoidForPath",
    routes: [get("first", "/foo/bar"), get("second", "/foo/bar")],
    lookups: [lookup("/foo/bar", null)],
    refusedTable: reasons.duplicates,
  },
  {
    id: "LookupReturnsNullForOverspecifiedPath",
    routes: [get("abc", "/a/b/c"), get("ab", "/a/b")],
    lookups: [lookup("/a/b/c/d", null)],
  },
  {
    id: "ReturnNullvoidSharedPtrForUnderspecifiedPath",
    routes: [get("abcd", "/a/b/c/d")],
    lookups: [lookup("/a/b/c", null)],
  },
  {
    id: "DifferentHttpMethod",
    routes: [get("ab", "/a/b")],
    // No route either way; we tell 405 (with Allow) from 404, which the harness checks too.
    lookups: [lookup("/a/b", to("ab")), { method: "POST", path: "/a/b", expected: null }],
  },
  {
    id: "BodyFieldPathTest",
    routes: [get("a", "/a", { body: "b" }), get("cd", "/c/d", { body: "e.f.g", refused: reasons.nestedBody })],
    lookups: [
      lookup("/a", { route: "a", bindings: {}, body: "b" }),
      lookup("/c/d", { route: "cd", bindings: {}, body: "e.f.g" }, { reason: reasons.nestedBody, actual: null }),
    ],
  },
  {
    id: "WildCardMatchesManyWithoutStackOverflow",
    routes: [refusedGet("a", "/a/**/x")],
    lookups: [
      lookup(`/a/${"/".repeat(64000)}/x`, to("a"), refusedRoute(null)),
      lookup(`/a/${"/".repeat(64000)}/y`, null),
    ],
  },
  {
    id: "LookupSilentlyFailsOnDuplicate",
    routes: [get("a", "/a/b"), get("b", "/a/b")],
    lookups: [lookup("/a/b", null)],
    refusedTable: reasons.duplicates,
  },
  {
    id: "RegisterFailsOnDuplicateIfOptIn",
    routes: [get("a", "/a/b"), get("b", "/a/b")],
    lookups: [lookup("/a/b", null)],
    refusedTable: reasons.duplicates,
  },
];
