/**
 * Route choice over the real FilesService annotations (the ambiguous cases of the contract) and
 * over the test-only LibraryService (custom methods, additional bindings).
 */
import { FilesService } from "../../../gen/files/v1/files_pb.js";
import { createRouteTable, RouteError, type RouteMatch } from "../../../src/transcoding/route-table.js";
import { loadLibrary, type Library } from "../../support/library-service.js";

const files = createRouteTable(FilesService.methods);

function routed(match: RouteMatch) {
  if (match.kind !== "found") return match;
  return { method: match.route.method.name, ...Object.fromEntries(match.bindings) };
}
const route = (method: string, path: string) => routed(files.match(method, path));

describe("FilesService routes", () => {
  test.each([
    ["POST", "/v1/files", { method: "CreateUploadSession" }],
    ["GET", "/v1/files", { method: "ListBuckets" }],
    ["POST", "/v1/files/session:abc", { method: "UploadContent", upload_id: "abc" }],
    ["GET", "/v1/files/session:abc", { method: "GetUploadSession", upload_id: "abc" }],
    ["DELETE", "/v1/files/session:abc", { method: "CancelUploadSession", upload_id: "abc" }],
    ["GET", "/v1/files/dogs", { method: "ListFiles", bucket: "dogs" }],
    ["GET", "/v1/files/dogs/shiba.jpg", { method: "GetFile", bucket: "dogs", key: "shiba.jpg" }],
    ["DELETE", "/v1/files/dogs/shiba.jpg", { method: "DeleteFile", bucket: "dogs", key: "shiba.jpg" }],
    ["GET", "/v1/files/dogs/shiba.jpg:content", { method: "DownloadFile", bucket: "dogs", key: "shiba.jpg" }],
    ["HEAD", "/v1/files/dogs/shiba.jpg:content", { method: "DownloadFile", bucket: "dogs", key: "shiba.jpg" }],
    [
      "GET",
      "/v1/files/dogs/photos/2025/shiba.jpg:content",
      { method: "DownloadFile", bucket: "dogs", key: "photos/2025/shiba.jpg" },
    ],
  ])("%s %s", (method, path, expected) => {
    expect(route(method, path)).toEqual(expected);
  });

  test("a bucket named session is a bucket", () => {
    expect(route("GET", "/v1/files/session")).toEqual({ method: "ListFiles", bucket: "session" });
    expect(route("GET", "/v1/files/session/a.jpg")).toEqual({ method: "GetFile", bucket: "session", key: "a.jpg" });
    expect(route("GET", "/v1/files/session/a.jpg:content")).toEqual({
      method: "DownloadFile",
      bucket: "session",
      key: "a.jpg",
    });
  });

  test("a colon that is not a registered verb stays in the key", () => {
    expect(route("GET", "/v1/files/dogs/a:b.jpg")).toEqual({ method: "GetFile", bucket: "dogs", key: "a:b.jpg" });
    expect(route("GET", "/v1/files/dogs/a.jpg:contents")).toEqual({
      method: "GetFile",
      bucket: "dogs",
      key: "a.jpg:contents",
    });
  });

  test("a verb applies to the last segment only", () => {
    expect(route("GET", "/v1/files/dogs/x:content/a.jpg")).toEqual({
      method: "GetFile",
      bucket: "dogs",
      key: "x:content/a.jpg",
    });
  });

  test("the wrong method on a known path answers 405 with the allowed ones", () => {
    expect(route("PUT", "/v1/files")).toEqual({ kind: "method_not_allowed", allow: ["GET", "HEAD", "POST"] });
    expect(route("POST", "/v1/files/dogs")).toEqual({ kind: "method_not_allowed", allow: ["GET", "HEAD"] });
    expect(route("POST", "/v1/files/dogs/a.jpg:content")).toEqual({
      kind: "method_not_allowed",
      allow: ["GET", "HEAD"],
    });
    expect(route("PATCH", "/v1/files/session:abc")).toEqual({
      kind: "method_not_allowed",
      allow: ["DELETE", "GET", "HEAD", "POST"],
    });
  });

  test.each(["/", "/v2/files", "/v1/files/", "/v1/files/dogs/", "/v1", "v1/files", "/v1/files/dogs/a//b"])(
    "%s is not found",
    (path) => {
      expect(route("GET", path)).toEqual({ kind: "not_found" });
    },
  );
});

describe("LibraryService routes (a service the transcoder has never seen)", () => {
  let library: Library;
  let table: ReturnType<typeof createRouteTable>;
  beforeAll(async () => {
    library = await loadLibrary();
    table = createRouteTable(library.service.methods);
  });

  test("multi-segment variables, additional bindings, custom verbs and methods", () => {
    expect(routed(table.match("GET", "/v1/shelves/s1/books/b2"))).toEqual({
      method: "GetBook",
      name: "shelves/s1/books/b2",
    });
    expect(routed(table.match("GET", "/v1/books/b2"))).toEqual({ method: "GetBook", name: "b2" });
    expect(routed(table.match("POST", "/v1/shelves/s1/books/b2:archive"))).toEqual({
      method: "ArchiveBook",
      name: "shelves/s1/books/b2",
    });
    expect(routed(table.match("PURGE", "/v1/shelves/s1"))).toEqual({ method: "PurgeShelf", shelf: "s1" });
    expect(routed(table.match("GET", "/v1/shelves/s1/books:watch"))).toEqual({ method: "WatchBooks", shelf: "s1" });
    expect(routed(table.match("GET", "/v1/shelves/s1/books"))).toEqual({ method: "ListBooks", shelf: "s1" });
    expect(routed(table.match("PUT", "/v1/shelves/s1/books/b2/scan"))).toEqual({
      method: "UploadScan",
      name: "shelves/s1/books/b2",
    });
  });

  test("a literal segment wins over a variable, whatever the order of declaration", () => {
    // GetBook's "/v1/books/{name}" is declared before ListBooks' "/v1/books/featured".
    expect(routed(table.match("GET", "/v1/books/featured"))).toEqual({ method: "ListBooks" });
    expect(routed(table.match("GET", "/v1/books/other"))).toEqual({ method: "GetBook", name: "other" });
  });
});

describe("annotations that can't be served fail at start-up, naming the method", () => {
  test("a path variable naming no field", async () => {
    const library = await loadLibrary();
    const method = library.service.methods.find((m) => m.name === "GetBook")!;
    const broken = { ...method, input: library.message("PurgeShelfRequest") };
    expect(() => createRouteTable([broken])).toThrow(RouteError);
    expect(() => createRouteTable([broken])).toThrow(
      /LibraryService.GetBook: path variable: library.v1.PurgeShelfRequest has no field "name"/,
    );
  });

  test("a header binding or download option naming no field (our own transcoding.v1.rest)", () => {
    const method = (name: string) => FilesService.methods.find((m) => m.name === name)!;
    const getFileResponse = method("GetFile").output;
    expect(() => createRouteTable([{ ...method("UploadContent"), output: getFileResponse }])).toThrow(
      /FilesService.UploadContent: response header Upload-Offset: files.v1.GetFileResponse has no field "session"/,
    );
    expect(() => createRouteTable([{ ...method("DownloadFile"), output: getFileResponse }])).toThrow(
      /FilesService.DownloadFile: download metadata: files.v1.GetFileResponse has no field "info"/,
    );
  });
});
