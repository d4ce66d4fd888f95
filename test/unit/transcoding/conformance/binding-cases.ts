/**
 * Request-binding cases ported from grpc-ecosystem/grpc-httpjson-transcoding, the library under
 * Envoy's gRPC-JSON transcoder (Apache-2.0; its cases rewritten as data, not its code):
 * the query-parameter tests of test/path_matcher_test.cc, and the binding, body-prefix and body
 * tests of test/request_message_translator_test.cc and test/json_request_translator_test.cc, over
 * a copy of its test/bookstore.proto messages (synthetic-service.ts). Ids are "<fixture>.<TEST>".
 *
 * Not ported: the chunking, streaming and delimiter tests (they test upstream's incremental JSON
 * parser; we parse a whole body before binding), and Struct/Value bodies.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

/** The request message as proto3 JSON, or how binding fails: refused at start-up, or INVALID_ARGUMENT. */
export type BindingOutcome = JsonObject | "INVALID_ARGUMENT" | "route refused";

/** One binding case: a route's request type and body, the parts of a request, and the message. */
export interface BindingCase {
  id: string;
  /** The request message (synthetic-service.ts); Req has string fields x, y, z, t, a, b, id. */
  input: string;
  /** HttpRule.body. */
  body?: string;
  /** Path variable bindings, as the matcher hands them over (field path → decoded value). */
  path?: Record<string, string>;
  /** The raw query string. */
  query?: string;
  /** The parsed JSON body. */
  json?: JsonValue;
  expected: BindingOutcome;
  /** Why we differ; `actual` is what we do, and is asserted. */
  deviation?: string;
  actual?: BindingOutcome;
}

/** Deviation reasons (docs/transcoding-conformance.md lists them). */
export const reasons = {
  plusIsSpace:
    "Query strings are read as application/x-www-form-urlencoded (URLSearchParams), as browsers and form " +
    'encoders write them: "+" is a space. Upstream keeps "+" unless query_param_unescape_plus is set.',
  noSystemParams:
    "We have no system query parameters (API keys travel in headers); a query parameter that names no field " +
    "is refused, where upstream drops the configured system parameters.",
  unknownFieldsRefused:
    "Unknown JSON fields are refused (INVALID_ARGUMENT), like unknown query parameters: a misspelt field " +
    "should not be silently dropped. Upstream ignores them.",
  enumCase: "case_insensitive_enum_parsing is an Envoy option we do not offer; enum names are case-sensitive.",
  nestedBody:
    "google.api.HttpRule: `body` names a top-level request field. Upstream also takes a dotted path; we " +
    "refuse one at start-up.",
};

const book = { name: "999", author: "Leo Tolstoy", title: "War and Peace" };

export const bindingCases: BindingCase[] = [
  // test/path_matcher_test.cc: query parameters.
  { id: "PathMatcherTest.VariableBindingsWithQueryParams#1", input: "Req", query: "x=hello", expected: { x: "hello" } },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParams#2",
    input: "Req",
    path: { x: "book" },
    query: "y=shelf&z=author",
    expected: { x: "book", y: "shelf", z: "author" },
  },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParams#3",
    input: "Req",
    path: { x: "hello", y: "endpoints" },
    query: "z=server&t=proxy",
    expected: { x: "hello", y: "endpoints", z: "server", t: "proxy" },
  },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParamsEncoding#1",
    input: "Req",
    query: "x=Hello%20world",
    expected: { x: "Hello world" },
  },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParamsEncoding#2",
    input: "Req",
    query: "x=%24%25%2F%20%0A",
    expected: { x: "$%/ \n" },
  },
  {
    id: "PathMatcherTest.QueryParameterNotUnescapePlus",
    input: "Req",
    query: "x=Hello+world&y=%2B+%20",
    expected: { x: "Hello+world", y: "++ " },
    deviation: reasons.plusIsSpace,
    actual: { x: "Hello world", y: "+  " },
  },
  {
    id: "PathMatcherTest.QueryParameterUnescapePlus",
    input: "Req",
    query: "x=Hello+world&y=%2B+%20",
    expected: { x: "Hello world", y: "+  " },
  },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParamsAndSystemParams#1",
    input: "Req",
    path: { x: "hello" },
    query: "y=world&api_key=secret",
    expected: { x: "hello", y: "world" },
    deviation: reasons.noSystemParams,
    actual: "INVALID_ARGUMENT",
  },
  {
    id: "PathMatcherTest.VariableBindingsWithQueryParamsAndSystemParams#2",
    input: "Req",
    path: { x: "hello" },
    query: "key=secret&y=world",
    expected: { x: "hello", y: "world" },
    deviation: reasons.noSystemParams,
    actual: "INVALID_ARGUMENT",
  },
  // test/request_message_translator_test.cc
  {
    id: "RequestMessageTranslatorTest.Simple",
    input: "Shelf",
    body: "*",
    json: { name: "1", theme: "History" },
    expected: { name: "1", theme: "History" },
  },
  {
    id: "RequestMessageTranslatorTest.Nested",
    input: "CreateShelfRequest",
    body: "*",
    json: { shelf: { name: "2", theme: "Russian" } },
    expected: { shelf: { name: "2", theme: "Russian" } },
  },
  {
    id: "RequestMessageTranslatorTest.MultipleLevelNested",
    input: "CreateBookRequest",
    body: "*",
    json: {
      shelf: "99",
      book: {
        ...book,
        authorInfo: {
          firstName: "Leo",
          lastName: "Tolstoy",
          bio: { yearBorn: "1830", yearDied: "1910", text: "bio text" },
        },
      },
    },
    expected: {
      shelf: "99",
      book: {
        ...book,
        authorInfo: {
          firstName: "Leo",
          lastName: "Tolstoy",
          bio: { yearBorn: "1830", yearDied: "1910", text: "bio text" },
        },
      },
    },
  },
  { id: "RequestMessageTranslatorTest.Empty", input: "Shelf", body: "*", json: {}, expected: {} },
  {
    id: "RequestMessageTranslatorTest.Bindings",
    input: "CreateBookRequest",
    body: "*",
    path: {
      shelf: "99",
      "book.author": "Leo Tolstoy",
      "book.authorInfo.firstName": "Leo",
      "book.authorInfo.lastName": "Tolstoy",
    },
    json: { book: { name: "999", title: "War and Peace" } },
    expected: { shelf: "99", book: { ...book, authorInfo: { firstName: "Leo", lastName: "Tolstoy" } } },
  },
  {
    id: "RequestMessageTranslatorTest.Prefix",
    input: "CreateBookRequest",
    body: "book",
    json: { name: "777", author: "Leo Tolstoy", title: "War and Peace" },
    expected: { book: { ...book, name: "777" } },
  },
  {
    id: "RequestMessageTranslatorTest.NestedPrefix",
    input: "CreateBookRequest",
    body: "book.authorInfo.bio",
    json: { yearBorn: "1830", yearDied: "1910", text: "bio text" },
    expected: { book: { authorInfo: { bio: { yearBorn: "1830", yearDied: "1910", text: "bio text" } } } },
    deviation: reasons.nestedBody,
    actual: "route refused",
  },
  {
    id: "RequestMessageTranslatorTest.PrefixAndBinding",
    input: "CreateBookRequest",
    body: "book",
    path: { shelf: "99" },
    json: book,
    expected: { shelf: "99", book },
  },
  {
    id: "RequestMessageTranslatorTest.ScalarBody",
    input: "CreateShelfRequest",
    body: "shelf.theme",
    json: "History",
    expected: { shelf: { theme: "History" } },
    deviation: reasons.nestedBody,
    actual: "route refused",
  },
  {
    id: "RequestMessageTranslatorTest.ListBody",
    input: "ListShelvesResponse",
    body: "shelves",
    json: [
      { name: "1", theme: "History" },
      { name: "2", theme: "Mystery" },
    ],
    expected: {
      shelves: [
        { name: "1", theme: "History" },
        { name: "2", theme: "Mystery" },
      ],
    },
  },
  {
    id: "RequestMessageTranslatorTest.UnexpectedScalarBody",
    input: "Book",
    body: "*",
    json: "History",
    expected: "INVALID_ARGUMENT",
  },
  {
    id: "RequestMessageTranslatorTest.UnexpectedList",
    input: "Book",
    body: "*",
    json: [],
    expected: "INVALID_ARGUMENT",
  },
  {
    id: "RequestMessageTranslatorTest.IgnoreUnkownFields",
    input: "CreateShelfRequest",
    body: "*",
    json: {
      shelf: { name: "3", theme: "Classics", unknownField: "value" },
      unknownObject: { field: "value" },
      unknownList: ["value1", "value2"],
    },
    expected: { shelf: { name: "3", theme: "Classics" } },
    deviation: reasons.unknownFieldsRefused,
    actual: "INVALID_ARGUMENT",
  },
  {
    id: "RequestMessageTranslatorTest.EnumCaseMatched",
    input: "Shelf",
    body: "*",
    json: { type: "HORROR" },
    expected: { type: "HORROR" },
  },
  {
    id: "RequestMessageTranslatorTest.EnumCaseNotMatched",
    input: "Shelf",
    body: "*",
    json: { type: "Horror" },
    expected: "INVALID_ARGUMENT",
  },
  {
    id: "RequestMessageTranslatorTest.EnumWithCaseInsensitiveFlag",
    input: "Shelf",
    body: "*",
    json: { type: "Horror" },
    expected: { type: "HORROR" },
    deviation: reasons.enumCase,
    actual: "INVALID_ARGUMENT",
  },
  // test/json_request_translator_test.cc
  {
    id: "JsonRequestTranslatorTest.Bindings",
    input: "CreateBookRequest",
    body: "book",
    path: { "book.authorInfo.firstName": "Leo", "book.authorInfo.lastName": "Tolstoy" },
    json: { name: "11", author: "Leo Tolstoy", title: "Anna Karenina" },
    expected: {
      book: {
        name: "11",
        author: "Leo Tolstoy",
        title: "Anna Karenina",
        authorInfo: { firstName: "Leo", lastName: "Tolstoy" },
      },
    },
  },
  {
    id: "JsonRequestTranslatorTest.MorePrefixAndBindings",
    input: "CreateBookRequest",
    body: "book.authorInfo.bio",
    path: { "book.name": "7", "book.author": "Fyodor Dostoevski", "book.title": "Idiot" },
    json: { yearBorn: "1840", yearDied: "1920", text: "bio text" },
    expected: {
      book: {
        name: "7",
        author: "Fyodor Dostoevski",
        title: "Idiot",
        authorInfo: { bio: { yearBorn: "1840", yearDied: "1920", text: "bio text" } },
      },
    },
    deviation: reasons.nestedBody,
    actual: "route refused",
  },
  {
    id: "JsonRequestTranslatorTest.OnlyBindings",
    input: "Shelf",
    path: { name: "1", theme: "Fiction" },
    expected: { name: "1", theme: "Fiction" },
  },
  {
    id: "JsonRequestTranslatorTest.ScalarBody",
    input: "Shelf",
    body: "theme",
    json: "History",
    expected: { theme: "History" },
  },
  {
    id: "JsonRequestTranslatorTest.UnknownsIgnored",
    input: "Shelf",
    body: "*",
    json: {
      name: "1",
      theme: "Russian",
      unknownField: "ignored",
      unknownObject: { name: "value" },
      unknownArray: [1, 2, 3, 4],
    },
    expected: { name: "1", theme: "Russian" },
    deviation: reasons.unknownFieldsRefused,
    actual: "INVALID_ARGUMENT",
  },
  {
    id: "JsonRequestTranslatorTest.WrongBindingType",
    input: "GetShelfRequest",
    path: { shelf: "abc" },
    expected: "INVALID_ARGUMENT",
  },
];
