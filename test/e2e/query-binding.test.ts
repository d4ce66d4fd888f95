/**
 * Query parameters bind only the fields neither the path nor the body binds (google.api.http;
 * issue 8, item 9): `?data=<base64>` on a raw upload used to be written ahead of the body
 * (`?data=eA` + body `x` stored `xx`). It is refused with 400 naming the parameter, before the
 * body is read, and nothing is written.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { download } from "../support/uploads.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const curl = async (...args: string[]) => {
  const { stdout } = await promisify(execFile)("curl", ["-sS", "-w", "\n%{http_code}", ...args]);
  const cut = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
};

test("?data= on a raw upload: 400 naming it, nothing written; the body alone then uploads", async () => {
  const created = await curl("-X", "POST", `${t.baseUrl}/v1/files`, "-d", '{"bucket": "q", "key": "x.txt", "size": 1}');
  const { id } = JSON.parse(created.body) as { id: string };
  const refused = await curl("-X", "POST", `${t.baseUrl}/v1/files/session:${id}?data=eA`, "--data-binary", "x");
  expect(refused.status).toBe(400);
  expect(JSON.parse(refused.body)).toEqual({
    code: "invalid_argument",
    message:
      'query parameter "data": field data is bound to the request body, so a query parameter may not set it; send it in the body',
  });
  const files = t.client("grpc (HTTP/2)");
  expect((await files.getUploadSession({ uploadId: id })).session?.offset).toBe(0n);

  expect((await curl("-X", "POST", `${t.baseUrl}/v1/files/session:${id}`, "--data-binary", "x")).status).toBe(200);
  expect((await download(files, "q", "x.txt")).data.toString()).toBe("x");
});
