/**
 * The IETF draft's "a new request ends the one still running" (draft-handler.ts), where it meets
 * keys: only a caller who may read the upload can make the server end a request still appending to
 * it; anyone else is refused and the running request goes on. And paths that do not decode are
 * refused as such, not as a server fault.
 */
import http from "node:http";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { content, eventually, sha256 } from "../support/uploads.js";

const KiB = 1024;
const owner = "draft-owner-key-0123456789";
const stranger = "draft-stranger-key-0123456789";
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "api-keys": `${owner}:rw:mine ${stranger}:rw:theirs` });
});
afterAll(() => t?.close());

test("a HEAD or PATCH by a key without access to the bucket is refused, and does not cut the owner's running upload", async () => {
  const data = content(200 * KiB);
  const infos: http.InformationEvent[] = [];
  let final: http.IncomingMessage | undefined;
  const body: Buffer[] = [];
  const req = http.request(`${t.baseUrl}/resumable/mine/running.bin`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${owner}`,
      "upload-draft-interop-version": "8",
      "upload-complete": "?1",
      "content-length": data.length,
    },
  });
  req.on("information", (info) => infos.push(info));
  req.on("response", (res) => {
    final = res;
    res.on("data", (chunk: Buffer) => body.push(chunk));
  });
  req.write(data.subarray(0, 100 * KiB));
  const named = await eventually(() => infos.find((i) => i.headers.location), 5000, "the 104 names the upload");
  const url = String(named.headers.location);
  await eventually(
    async () => ((await t.storedBytes(url.split(":").at(-1)!)) ?? 0) >= 100 * KiB,
    5000,
    "100 KiB stored",
  );

  const asStranger = { authorization: `Bearer ${stranger}` };
  expect((await fetch(url, { method: "HEAD", headers: asStranger })).status).toBe(403);
  const patch = await fetch(url, {
    method: "PATCH",
    headers: {
      ...asStranger,
      "content-type": "application/partial-upload",
      "upload-offset": "0",
      "upload-complete": "?0",
    },
    body: Buffer.from("x"),
  });
  expect(patch.status).toBe(403);
  expect((await fetch(url, { method: "HEAD" })).status).toBe(401);

  // The owner's request was not cut: it finishes, and the file is whole.
  req.end(data.subarray(100 * KiB));
  await eventually(() => final?.complete, 5000, "the owner's answer");
  expect([final!.statusCode, JSON.parse(Buffer.concat(body).toString()).sha256]).toEqual([200, sha256(data)]);
});

test.each([
  ["an upload URL", "/resumable/session:%E0%A4%A", "HEAD", 404],
  ["a creation URL", "/resumable/mine/%ZZ.bin", "POST", 400],
])("%s that does not percent-decode is refused (%s), not a server fault", async (_name, path, method, status) => {
  const res = await fetch(t.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${owner}`, "upload-complete": "?1" },
    body: method === "POST" ? Buffer.from("x") : undefined,
  });
  expect(res.status).toBe(status);
});
