import { startTestApp, type TestApp } from "../support/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

test("create, upload, get", async () => {
  for (const name of ["grpc (HTTP/2)", "connect (HTTP/1.1)"] as const) {
    const c = t.client(name);
    const { session } = await c.createUploadSession({ bucket: "b", key: `k-${name.slice(0, 4)}`, mimeType: "text/plain", size: 5n });
    async function* msgs() {
      yield { uploadId: session!.id, data: Buffer.from("he") };
      yield { data: Buffer.from("llo") };
    }
    const res = await c.uploadContent(msgs());
    expect(res.file?.bytes).toBe(5n);
    expect(res.file?.url).toContain(":content");
  }
  const buckets = await t.client("grpc (HTTP/2)").listBuckets({});
  expect(buckets.data.map((b) => b.name)).toEqual(["b"]);
});
