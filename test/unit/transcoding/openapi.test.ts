/** The OpenAPI document: generated into gen/openapi.json by buf, and built for any annotated service. */
import { readFile } from "node:fs/promises";
import { createOpenApiDocument } from "../../../src/transcoding/openapi.js";
import { loadLibrary } from "../../support/library-service.js";

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: { name: string; in: string }[];
        responses: Record<string, unknown>;
        requestBody?: { content: Record<string, unknown> };
        description?: string;
      }
    >
  >;
  components: { schemas: Record<string, unknown> };
};

/** Every $ref points at a schema, every {param} of a path is a path parameter. */
function checkConsistent(doc: Doc) {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
  for (const r of refs) expect(Object.keys(doc.components.schemas)).toContain(r);
  for (const [path, ops] of Object.entries(doc.paths)) {
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const op of Object.values(ops))
      expect(
        op.parameters
          .filter((p) => p.in === "path")
          .map((p) => p.name)
          .sort(),
      ).toEqual(inPath);
  }
}

test("gen/openapi.json describes every route of the contract, with the proto comments", async () => {
  const doc = JSON.parse(await readFile(new URL("../../../gen/openapi.json", import.meta.url), "utf8")) as Doc & {
    openapi: string;
  };
  expect(doc.openapi).toBe("3.1.0");
  const routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
  );
  expect(routes.sort()).toEqual(
    [
      "POST /v1/files",
      "GET /v1/files",
      "POST /v1/files/session:{upload_id}",
      "GET /v1/files/session:{upload_id}",
      "DELETE /v1/files/session:{upload_id}",
      "GET /v1/files/{bucket}",
      "GET /v1/files/{bucket}/{key}",
      "DELETE /v1/files/{bucket}/{key}",
      "GET /v1/files/{bucket}/{key}:content",
    ].sort(),
  );
  checkConsistent(doc);
  const list = doc.paths["/v1/files/{bucket}"].get;
  expect(list.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
    "path:bucket",
    "query:prefix",
    "query:page_size",
    "query:page_token",
  ]);
  expect(list.description).toMatch(/sorted by key/);
  const upload = doc.paths["/v1/files/session:{upload_id}"].post;
  expect(upload.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
    "path:upload_id",
    "header:Upload-Offset",
    "query:offset",
    "query:checksum.algorithm",
    "query:checksum.digest",
    "query:defer_completion",
  ]);
  expect(Object.keys(upload.requestBody!.content)).toEqual(["application/octet-stream"]);
  expect(Object.keys(doc.paths["/v1/files/{bucket}/{key}:content"].get.responses)).toEqual([
    "200",
    "206",
    "304",
    "416",
    "default",
  ]);
});

test("any annotated service gets a document: the test-only LibraryService", async () => {
  const library = await loadLibrary();
  const doc = createOpenApiDocument([library.service], { title: "Library", version: "v1" }) as unknown as Doc;
  checkConsistent(doc);
  expect(Object.keys(doc.paths).sort()).toEqual(
    [
      "/v1/books/featured",
      "/v1/books/{name}",
      "/v1/shelves/{shelf}/books",
      "/v1/shelves/{shelf}/books:watch",
      "/v1/{name}",
      "/v1/{name}/scan",
      "/v1/{name}:archive",
    ].sort(),
  );
  // PURGE is a custom method: OpenAPI can't say it, so it is left out.
  expect(doc.paths["/v1/shelves/{shelf}/books"].get.parameters.map((p) => p.name)).toContain("filter.min_pages");
  expect(doc.components.schemas["library.v1.Book"]).toMatchObject({
    properties: {
      pages: { type: "integer", format: "int64" },
      published: { $ref: "#/components/schemas/google.protobuf.Timestamp" },
    },
  });
});
