/** Query, path, body and header mapping into request messages, and the JSON written back. */
import { create, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { FilesService, UploadContentResponseSchema } from "../../../gen/files/v1/files_pb.js";
import { bindRequest } from "../../../src/transcoding/request-binding.js";
import { messageToRestJson, stringifyRestJson } from "../../../src/transcoding/rest-json.js";
import { createRouteTable, type RouteTable } from "../../../src/transcoding/route-table.js";
import { connectErrorOf } from "../../support/connect-errors.js";
import { loadLibrary, type Library } from "../../support/library-service.js";

let library: Library;
let table: RouteTable;
const files = createRouteTable(FilesService.methods);
beforeAll(async () => {
  library = await loadLibrary();
  table = createRouteTable(library.service.methods);
});

function bind(
  t: RouteTable,
  method: string,
  target: string,
  options: { body?: JsonValue; headers?: Record<string, string> } = {},
) {
  const [path, query = ""] = target.split("?");
  const match = t.match(method, path);
  if (match.kind !== "found") throw new Error(`no route: ${match.kind}`);
  return bindRequest(match.route, {
    bindings: match.bindings,
    query: new URLSearchParams(query),
    header: (name) => options.headers?.[name],
    body: options.body,
  }) as unknown as Record<string, unknown>;
}

function invalid(fn: () => unknown, message: RegExp) {
  expect(connectErrorOf(fn, Code.InvalidArgument).rawMessage).toMatch(message);
}

describe("query parameters", () => {
  test("snake_case and camelCase names, scalars, repeated, nested, enums, well-known types", () => {
    const req = bind(
      table,
      "GET",
      "/v1/shelves/s1/books?page_size=5&tags=a&tags=b&includeArchived=true&filter.genre=GENRE_POETRY&filter.minPages=100&published_after=2025-01-02T03:04:05Z&ids=1&ids=9007199254740993",
    );
    expect(req.shelf).toBe("s1");
    expect(req.pageSize).toBe(5);
    expect(req.tags).toEqual(["a", "b"]);
    expect(req.includeArchived).toBe(true);
    expect(req.filter).toMatchObject({ genre: 2, minPages: 100n });
    expect((req.publishedAfter as { seconds: bigint }).seconds).toBe(BigInt(Date.UTC(2025, 0, 2, 3, 4, 5) / 1000));
    expect(req.ids).toEqual([1n, 9007199254740993n]);
  });

  test("enums by number, booleans as 0/1", () => {
    const req = bind(table, "GET", "/v1/shelves/s1/books?filter.genre=1&include_archived=0");
    expect((req.filter as { genre: number }).genre).toBe(1);
    expect(req.includeArchived).toBe(false);
  });

  test("percent-encoded values decode", () => {
    expect(bind(table, "GET", "/v1/shelves/s1/books?tags=a%20b&tags=c%2Fd").tags).toEqual(["a b", "c/d"]);
  });

  test("an unknown parameter is refused, listing the ones there are", () => {
    invalid(
      () => bind(table, "GET", "/v1/shelves/s1/books?pagesize=5"),
      /unknown query parameter "pagesize"; this request takes page_size, tags, include_archived, filter.genre, filter.min_pages, published_after, ids/,
    );
    invalid(
      () => bind(files, "GET", "/v1/files/dogs?foo=1"),
      /unknown query parameter "foo"; this request takes prefix, page_size, page_token/,
    );
  });

  test("a parameter for a field the path sets is refused", () => {
    invalid(() => bind(table, "GET", "/v1/shelves/s1/books?shelf=s2"), /field shelf is already set by the path/);
    invalid(() => bind(files, "GET", "/v1/files/dogs?bucket=cats"), /already set by the path/);
  });

  test("a singular field given twice, a message as a value, bad numbers and booleans are refused", () => {
    invalid(
      () => bind(table, "GET", "/v1/shelves/s1/books?page_size=1&page_size=2"),
      /given 2 times but is not repeated/,
    );
    invalid(
      () => bind(table, "GET", "/v1/shelves/s1/books?filter=x"),
      /field filter is a message; set its fields as filter.<field>/,
    );
    invalid(() => bind(table, "GET", "/v1/shelves/s1/books?page_size=many"), /page_size.*expected number/);
    invalid(() => bind(table, "GET", "/v1/shelves/s1/books?include_archived=yes"), /expected true or false/);
    invalid(() => bind(table, "GET", "/v1/shelves/s1/books?filter.genre=GENRE_JAZZ"), /genre/);
    invalid(() => bind(table, "GET", "/v1/shelves/s1/books?ids=1.5"), /ids/);
  });

  test("a parameter naming the field the body binds, or a field inside it, is refused, body or not", () => {
    // google.api.http: query parameters bind only the fields neither the path nor the body binds.
    const bound = /query parameter "(data|book(\.title)?)": field (data|book(\.title)?) is bound to the request body/;
    invalid(() => bind(files, "POST", "/v1/files/session:abc?data=eA"), bound);
    invalid(() => bind(table, "PUT", "/v1/shelves/s1/books/b1/scan?data=eA"), bound);
    invalid(
      () => bind(table, "POST", "/v1/shelves/s1/books?book.title=x", { body: { title: "T" } }),
      /query parameter "book.title": field book.title is bound to the request body/,
    );
    invalid(
      () => bind(table, "POST", "/v1/shelves/s1/books?book.title=x"),
      /query parameter "book.title": field book.title is bound to the request body/,
    );
    invalid(
      () => bind(table, "POST", "/v1/shelves/s1/books?book=x"),
      /query parameter "book": field book is bound to the request body/,
    );
  });

  test("fields inside the body field are not offered as parameters", () => {
    invalid(() => bind(table, "POST", "/v1/shelves/s1/books?foo=1"), /^unknown query parameter "foo"$/);
    invalid(
      () => bind(files, "POST", "/v1/files/session:abc?foo=1"),
      /unknown query parameter "foo"; this request takes offset, checksum.algorithm, checksum.digest, defer_completion$/,
    );
  });

  test("no query parameters when the body is the whole request", () => {
    invalid(
      () => bind(table, "PATCH", "/v1/shelves/s1/books/b1?title=x", { body: {} }),
      /unexpected query parameter "title"/,
    );
  });
});

describe("bodies", () => {
  test('body "*" fills the request; the path adds its fields', () => {
    const req = bind(table, "PATCH", "/v1/shelves/s1/books/b1", {
      body: { title: "T", pages: 12, genre: "GENRE_FICTION" },
    });
    expect(req).toMatchObject({ name: "shelves/s1/books/b1", title: "T", pages: 12n, genre: 1 });
  });

  test('body "*" and the path may repeat a field with the same value, not another', () => {
    expect(bind(table, "PATCH", "/v1/shelves/s1/books/b1", { body: { name: "shelves/s1/books/b1" } }).name).toBe(
      "shelves/s1/books/b1",
    );
    invalid(
      () => bind(table, "PATCH", "/v1/shelves/s1/books/b1", { body: { name: "shelves/s1/books/b2" } }),
      /field name is given by the path/,
    );
  });

  test('body "field" fills that field; query parameters fill the others', () => {
    const req = bind(table, "POST", "/v1/shelves/s1/books", { body: { title: "T", tags: ["x"] } });
    expect(req.shelf).toBe("s1");
    expect(req.book).toMatchObject({ title: "T", tags: ["x"] });
  });

  test("unknown body fields, wrong types and non-objects are refused with the field named", () => {
    invalid(() => bind(files, "POST", "/v1/files", { body: { bucket: "b", sise: 3 } }), /unknown field "sise"/);
    invalid(() => bind(files, "POST", "/v1/files", { body: { bucket: "b", size: "lots" } }), /size/);
    invalid(() => bind(files, "POST", "/v1/files", { body: [1, 2] }), /must be a JSON object/);
    invalid(() => bind(table, "POST", "/v1/shelves/s1/books", { body: { title: 5 } }), /title/);
  });

  test("the contract's create body, with snake_case or camelCase", () => {
    const body = { bucket: "images", key: "image123.jpg", mime_type: "image/jpeg", size: 12345 };
    expect(bind(files, "POST", "/v1/files", { body })).toMatchObject({
      bucket: "images",
      key: "image123.jpg",
      mimeType: "image/jpeg",
      size: 12345n,
    });
    expect(
      bind(files, "POST", "/v1/files", { body: { bucket: "images", key: "k", size: 1, mimeType: "text/plain" } })
        .mimeType,
    ).toBe("text/plain");
  });
});

describe("header bindings", () => {
  test("Upload-Offset sets the offset precondition, like ?offset=", () => {
    expect(bind(files, "POST", "/v1/files/session:abc", { headers: { "upload-offset": "1024" } })).toMatchObject({
      uploadId: "abc",
      offset: 1024n,
    });
    expect(bind(files, "POST", "/v1/files/session:abc?offset=1024")).toMatchObject({ offset: 1024n });
    expect(bind(files, "POST", "/v1/files/session:abc").offset).toBeUndefined();
  });

  test("header and query must agree", () => {
    expect(bind(files, "POST", "/v1/files/session:abc?offset=7", { headers: { "upload-offset": "7" } }).offset).toBe(
      7n,
    );
    invalid(
      () => bind(files, "POST", "/v1/files/session:abc?offset=7", { headers: { "upload-offset": "8" } }),
      /header Upload-Offset: 8 disagrees/,
    );
    invalid(() => bind(files, "POST", "/v1/files/session:abc", { headers: { "upload-offset": "x" } }), /offset/);
  });
});

describe("REST JSON", () => {
  test("proto names, zero values shown, 64-bit integers as exact numbers", () => {
    const book = create(library.message("Book"), {
      name: "b",
      pages: 9007199254740993n,
      published: timestampFromDate(new Date(0)),
    });
    const text = stringifyRestJson(messageToRestJson(library.message("Book"), book));
    expect(text).toBe(
      '{"name":"b","title":"","pages":9007199254740993,"tags":[],"genre":"GENRE_UNSPECIFIED","published":"1970-01-01T00:00:00Z"}',
    );
  });

  test("nested, repeated and negative 64-bit integers", () => {
    const res = create(library.message("ListBooksResponse"), { echo: { ids: [-5n, 7n], filter: { minPages: -1n } } });
    const json = messageToRestJson(library.message("ListBooksResponse"), res) as {
      echo: { ids: unknown[]; filter: { min_pages: unknown } };
    };
    expect(json.echo.ids).toEqual([-5n, 7n]);
    expect(json.echo.filter.min_pages).toBe(-1n);
  });

  test("an unset message field is absent (response_body then answers null)", () => {
    const json = messageToRestJson(
      UploadContentResponseSchema,
      create(UploadContentResponseSchema, { session: { offset: 0n } }),
    );
    expect(json.file).toBeUndefined();
    expect(stringifyRestJson(json.session)).toContain('"offset":0');
  });

  test("strings are escaped as JSON", () => {
    expect(stringifyRestJson({ a: 'x"\u0000y', b: [1n, null, true] })).toBe('{"a":"x\\"\\u0000y","b":[1,null,true]}');
  });
});
