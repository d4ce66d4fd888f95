/**
 * Downloads over REST as a browser and curl meet them: saved under the key's last segment
 * (Content-Disposition, which `curl -OJ` honours), shown inline only for media types that run no
 * scripts, and never sniffed or run in the service's origin (nosniff, CSP sandbox).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { sha256 } from "../support/uploads.js";

let t: TestApp;
let base: string;
let dir: string;
beforeAll(async () => {
  t = await startTestApp();
  base = `http://localhost:${t.app.port}`;
  dir = await mkdtemp(path.join(tmpdir(), "files-download-"));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

async function upload(bucket: string, key: string, data: Buffer, mimeType: string): Promise<void> {
  const created = await restCall(
    base,
    "POST",
    "/v1/files",
    JSON.stringify({ bucket, key, size: data.length, mime_type: mimeType }),
  );
  expect(created.status).toBe(200);
  expect((await restCall(base, "POST", `/v1/files/session:${created.json().id}`, data)).status).toBe(200);
}

/** Runs a shell command (curl) in `cwd`; answers its stdout. */
async function sh(command: string, cwd = dir): Promise<string> {
  return (
    await promisify(execFile)("sh", ["-c", command.replaceAll("http://localhost:8321", base)], {
      cwd,
      encoding: "utf8",
    })
  ).stdout;
}

/** The response headers curl sees for a GET (or with `extra` arguments), lower-cased names. */
async function headersOf(target: string, extra = ""): Promise<Record<string, string>> {
  const raw = await sh(`curl -s -D - -o /dev/null ${extra} 'http://localhost:8321${target}'`);
  return Object.fromEntries(
    raw
      .split("\r\n")
      .slice(1)
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
  );
}

test("README's `curl -OJ` saves the download under the key's last segment, not as '…:content'", async () => {
  const image = randomBytes(12345);
  await upload("images", "2025/holiday/image123.jpg", image, "image/jpeg");
  const into = await mkdtemp(path.join(dir, "oj-"));
  await sh("curl -s -OJ http://localhost:8321/v1/files/images/2025/holiday/image123.jpg:content", into);
  expect(await readdir(into)).toEqual(["image123.jpg"]);
  expect(sha256(await readFile(path.join(into, "image123.jpg")))).toBe(sha256(image));
});

test("an HTML page is an attachment, never sniffed, and sandboxed should a browser open it anyway", async () => {
  await upload("web", "pages/evil.html", Buffer.from("<script>alert(document.cookie)</script>"), "text/html");
  const headers = await headersOf("/v1/files/web/pages/evil.html:content");
  expect(headers["content-type"]).toBe("text/html");
  expect(headers["content-disposition"]).toBe("attachment; filename=evil.html");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["content-security-policy"]).toBe("sandbox");
});

test("an SVG image is an attachment too, though images are shown inline", async () => {
  await upload(
    "web",
    "logo.svg",
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    "image/svg+xml",
  );
  expect((await headersOf("/v1/files/web/logo.svg:content"))["content-disposition"]).toBe(
    "attachment; filename=logo.svg",
  );
});

test("a PNG is shown inline, with the same protections; on HEAD and on a range as well", async () => {
  await upload("web", "img/dot.png", randomBytes(100), "image/png");
  for (const extra of ["", "-I", "-r 0-9"]) {
    const headers = await headersOf("/v1/files/web/img/dot.png:content", extra);
    expect(headers["content-disposition"]).toBe("inline; filename=dot.png");
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["content-security-policy"]).toBe("sandbox");
  }
});

test("with --inline-content-types set, only those types are inline", async () => {
  const strict = await startTestApp({ "inline-content-types": "application/pdf" });
  try {
    const created = await restCall(
      strict.baseUrl,
      "POST",
      "/v1/files",
      JSON.stringify({ bucket: "b", key: "a.png", size: 1, mime_type: "image/png" }),
    );
    await restCall(strict.baseUrl, "POST", `/v1/files/session:${created.json().id}`, Buffer.alloc(1));
    const res = await fetch(`${strict.baseUrl}/v1/files/b/a.png:content`);
    expect(res.headers.get("content-disposition")).toBe("attachment; filename=a.png");
  } finally {
    await strict.close();
  }
});
