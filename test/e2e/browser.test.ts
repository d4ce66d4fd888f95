/**
 * A real browser (Debian's Chromium, headless, driven by puppeteer-core) on a page served from
 * another origin, using @connectrpc/connect-web over Connect and gRPC-Web, uploading with fetch
 * and with tus-js-client: it works with the page's origin allowed, and fails with CORS off. Where
 * Chromium is missing the test says so loudly (and fails where REQUIRE_BROWSER_TESTS is set:
 * `.ci/run` installs it).
 */
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import puppeteer, { type Browser } from "puppeteer-core";
import { startTestApp, type TestApp } from "../support/test-app.js";

const chromium = "/usr/bin/chromium";
const key = "browser-key-0123456789abcdef";
const hasChromium = existsSync(chromium);
if (!hasChromium && !process.env.REQUIRE_BROWSER_TESTS)
  console.warn(`SKIPPED the browser test: no ${chromium} (apt-get install -y chromium)`);

(hasChromium || process.env.REQUIRE_BROWSER_TESTS ? describe : describe.skip)("a browser on another origin", () => {
  let pageServer: http.Server;
  let pageOrigin: string;
  let browser: Browser;
  beforeAll(async () => {
    if (!hasChromium) throw new Error(`no ${chromium}: apt-get install -y chromium`);
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL("browser/page-script.ts", import.meta.url))],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: "es2022",
    });
    const script = bundle.outputFiles[0].text;
    pageServer = http.createServer((req, res) => {
      if (req.url?.startsWith("/page.js")) {
        res.writeHead(200, { "content-type": "text/javascript" });
        res.end(script);
      } else {
        res.writeHead(200, { "content-type": "text/html" });
        res.end('<!doctype html><title>files</title><script type="module" src="/page.js"></script>');
      }
    });
    await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      // As root in a container, and without the background traffic this machine's network refuses.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  async function runPage(t: TestApp) {
    const page = await browser.newPage();
    try {
      await page.goto(`${pageOrigin}/?api=${encodeURIComponent(t.baseUrl)}&key=${key}`);
      await page.waitForFunction("globalThis.results !== undefined");
      return (await page.evaluate("globalThis.results")) as
        | { ok: true; runs: Record<string, unknown>[]; tus: Record<string, unknown> }
        | { ok: false; error: string };
    } finally {
      await page.close();
    }
  }

  test("with the page's origin allowed: Connect and gRPC-Web calls, a download stream, a fetch upload and a tus upload work", async () => {
    const t = await startTestApp({ "cors-allowed-origins": pageOrigin, "api-keys": `${key}:rw:*` });
    try {
      const result = await runPage(t);
      expect(result).toMatchObject({ ok: true });
      if (!result.ok) return;
      for (const [i, name] of ["connect", "grpc-web"].entries()) {
        const text = `hello from ${name} in a browser`;
        expect(result.runs[i]).toEqual({
          uploadStatus: 200,
          uploadOffset: String(text.length),
          bytes: text.length,
          buckets: ["browser"],
          downloaded: text,
        });
      }
      // tus-js-client's browser build, from the same other origin: a Blob in chunks, the file whole.
      expect(result.tus).toEqual({
        url: expect.stringMatching(new RegExp(`^${t.baseUrl}/tus/[0-9a-f-]{36}$`)),
        bytes: 50_000,
        sameSha256: true,
      });
    } finally {
      await t.close();
    }
  });

  test("with CORS off, the same page is refused by the browser", async () => {
    const t = await startTestApp({ "api-keys": `${key}:rw:*` });
    try {
      const result = await runPage(t);
      // Chromium's words for a response it keeps from the page (not a key or a server refusing).
      expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/Failed to fetch/) });
      // Nothing was created: the preflight stopped the call before it was sent.
      expect(await t.db.sql`select id from upload_sessions`).toHaveLength(0);
    } finally {
      await t.close();
    }
  });
});
