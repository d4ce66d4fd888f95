/**
 * `curl -F file=@x` against an upload session sends a multipart/form-data form, whose boundaries
 * and part headers are not the file. It is refused with 415 before anything is written, saying to
 * send the raw bytes; the session is untouched and takes the raw upload after.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { partialBytes, sha256 } from "../support/uploads.js";

let t: TestApp;
let dir: string;
beforeAll(async () => {
  t = await startTestApp();
  dir = await mkdtemp(path.join(tmpdir(), "files-form-"));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs curl with these arguments in the temp directory; answers the body and the status. */
async function curl(args: string): Promise<{ status: number; body: string }> {
  const { stdout } = await promisify(execFile)("sh", ["-c", `curl -s -w '\\n%{http_code}' ${args}`], {
    cwd: dir,
    encoding: "utf8",
  });
  const cut = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

// 100 bytes, and 2 MiB: curl asks "Expect: 100-continue" before a large form.
describe.each([
  ["HTTP/1.1, 100 bytes", "", 100],
  ["HTTP/1.1, 2 MiB", "", 2 * 1024 * 1024],
  ["HTTP/2, 100 bytes", "--http2-prior-knowledge", 100],
])("curl -F over %s", (_, httpVersion, size) => {
  test("is refused with 415, saying to send the raw bytes; nothing is written; the raw upload then works", async () => {
    const data = randomBytes(size);
    const name = `form-${size}.bin`;
    await writeFile(path.join(dir, name), data);
    const created = await restCall(
      t.baseUrl,
      "POST",
      "/v1/files",
      JSON.stringify({ bucket: "forms", key: `${httpVersion || "h1"}/${name}`, size }),
    );
    const id = created.json().id as string;

    const form = await curl(`${httpVersion} -F file=@${name} ${t.baseUrl}/v1/files/session:${id}`);
    expect(form.status).toBe(415);
    expect(JSON.parse(form.body)).toEqual({
      code: "invalid_argument",
      message: expect.stringMatching(/multipart\/form-data.*--data-binary @file or curl -T file/),
    });
    expect((await restCall(t.baseUrl, "GET", `/v1/files/session:${id}`)).json().offset).toBe(0);
    expect(await partialBytes(t.blobDir, id)).toBeUndefined(); // the upload never began

    const raw = await curl(`${httpVersion} --data-binary @${name} ${t.baseUrl}/v1/files/session:${id}`);
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.body).sha256).toBe(sha256(data));
  });
});
