/**
 * A page token comes back from the client: one crafted with a key that is no key (issue 8, item 6:
 * a NUL, which Postgres refuses with a 500) is invalid_argument (400) on every face, and nothing is
 * logged as a server error. Generated tokens of the right shape with any key at all: a valid key
 * lists, anything else is refused.
 */
import fc from "fast-check";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { FilesService } from "../../gen/files/v1/files_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { content, uploadFile } from "../support/uploads.js";

let t: TestApp;
let files: Client<typeof FilesService>;
const logLines: string[] = [];
beforeAll(async () => {
  t = await startTestApp({}, {}, (line) => logLines.push(line));
  files = t.client("grpc (HTTP/2)");
  for (const key of ["a", "b", "c"]) await uploadFile(files, "a", key, content(3));
});
afterAll(() => t?.close());

/** A token with this JSON body, as the server encodes them. */
const token = (body: unknown) => Buffer.from(JSON.stringify(body)).toString("base64url");
const crafted = token({ v: 1, b: "a", p: "", a: "\u0000" });
const errorsLogged = () => logLines.filter((line) => (JSON.parse(line) as { level: string }).level === "error");

test("the crafted token over REST (curl): 400 invalid_argument, no server error", async () => {
  const { stdout } = await promisify(execFile)("curl", [
    "-sS",
    "-w",
    "\n%{http_code}",
    `${t.baseUrl}/v1/files/a?page_token=${crafted}`,
  ]);
  const [body, status] = [stdout.slice(0, stdout.lastIndexOf("\n")), stdout.slice(stdout.lastIndexOf("\n") + 1)];
  expect(status).toBe("400");
  expect(JSON.parse(body)).toEqual({
    code: "invalid_argument",
    message: "page_token is invalid: pass the next_page_token of the previous page unchanged",
  });
  expect(errorsLogged()).toEqual([]);
});

test.each(["grpc (HTTP/2)", "connect (HTTP/1.1)"] as const)(
  "the crafted token over %s: invalid_argument",
  async (transport) => {
    const err = await t
      .client(transport)
      .listFiles({ bucket: "a", pageToken: crafted })
      .then(() => undefined, ConnectError.from);
    expect(err && Code[err.code]).toBe("InvalidArgument");
    expect(errorsLogged()).toEqual([]);
  },
);

test("a token of the right shape with any key: a valid key pages on, anything else is invalid_argument", async () => {
  const keyOk = (k: string) =>
    /^[a-zA-Z0-9_\-/.]{1,1024}$/.test(k) && k.split("/").every((s) => s !== "" && s !== "." && s !== "..");
  const keys = fc.oneof(
    fc.constantFrom("\u0000", "a\u0000", "b", "\ud800", "a/../b", "x".repeat(1025), "é", ""),
    fc.fullUnicodeString({ maxLength: 20 }),
    fc.string({ maxLength: 20 }),
  );
  await fc.assert(
    fc.asyncProperty(keys, async (after) => {
      const got = await files.listFiles({ bucket: "a", pageToken: token({ v: 1, b: "a", p: "", a: after }) }).then(
        (res) => res.data.map((f) => f.key),
        (err: unknown) => Code[ConnectError.from(err).code],
      );
      expect(got).toEqual(keyOk(after) ? ["a", "b", "c"].filter((k) => k > after) : "InvalidArgument");
    }),
    { numRuns: 200 },
  );
  expect(errorsLogged()).toEqual([]);
});
