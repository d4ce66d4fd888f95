/**
 * API keys end to end, on every face: gRPC metadata, Connect headers and REST. Missing or wrong
 * key: unauthenticated / 401; a key without the access: permission_denied / 403, decided before
 * anything is looked up, so a caller can't tell an existing bucket from a missing one.
 */
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content, uploadFile } from "../support/uploads.js";
import { loadConfig } from "../../src/config.js";
import { startApp } from "../../src/app.js";
import { createLogger } from "../../src/log.js";
import { createTestDatabase } from "../support/database.js";

const admin = "admin-key-0123456789abcdef";
const reader = "reader-key-0123456789abcdef"; // reads cats only
const writer = "writer-key-0123456789abcdef"; // writes cats only
const logLines: string[] = [];

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "api-keys": `${admin}:rw:* ${reader}:r:cats ${writer}:w:cats` }, {}, (line) =>
    logLines.push(line),
  );
  await uploadFile(as(admin, "grpc"), "cats", "tabby.jpg", content(10));
  await uploadFile(as(admin, "grpc"), "dogs", "shiba.jpg", content(10));
});
afterAll(() => t?.close());

function as(key: string | undefined, transport: "grpc" | "connect"): Client<typeof FilesService> {
  const baseUrl = t.baseUrl;
  const interceptors = key
    ? [
        (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) => (req: Parameters<typeof next>[0]) => {
          req.header.set("authorization", `Bearer ${key}`);
          return next(req);
        },
      ]
    : [];
  const tr =
    transport === "grpc"
      ? createGrpcTransport({ baseUrl, interceptors })
      : createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors });
  return createClient(FilesService, tr);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    return Code[ConnectError.from(err).code];
  }
}

describe.each(["grpc", "connect"] as const)("over %s", (transport) => {
  test("no key or a wrong key: unauthenticated", async () => {
    expect(await codeOf(as(undefined, transport).listBuckets({}))).toBe("Unauthenticated");
    expect(await codeOf(as("wrong-key-0123456789abcdef", transport).listBuckets({}))).toBe("Unauthenticated");
  });

  test("a reader lists only the buckets it may read, and reads them", async () => {
    const files = as(reader, transport);
    expect((await files.listBuckets({})).data.map((b) => b.name)).toEqual(["cats"]);
    expect((await files.getFile({ bucket: "cats", key: "tabby.jpg" })).file?.key).toBe("tabby.jpg");
    expect(await codeOf(files.createUploadSession({ bucket: "cats", key: "x", size: 1n }))).toBe("PermissionDenied");
    expect(await codeOf(files.deleteFile({ bucket: "cats", key: "tabby.jpg" }))).toBe("PermissionDenied");
  });

  test("another bucket: permission_denied whether it exists or not", async () => {
    const files = as(reader, transport);
    const existing = await files
      .getFile({ bucket: "dogs", key: "shiba.jpg" })
      .catch((e: unknown) => ConnectError.from(e));
    const missing = await files
      .getFile({ bucket: "wolves", key: "shiba.jpg" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(existing).toBeInstanceOf(ConnectError);
    expect((existing as ConnectError).code).toBe(Code.PermissionDenied);
    expect((missing as ConnectError).code).toBe(Code.PermissionDenied);
    expect((existing as ConnectError).rawMessage.replace("dogs", "X")).toBe(
      (missing as ConnectError).rawMessage.replace("wolves", "X"),
    );
    expect(await codeOf(files.listFiles({ bucket: "dogs" }))).toBe("PermissionDenied");
    expect(
      await codeOf(
        (async () => {
          for await (const _ of files.downloadFile({ bucket: "dogs", key: "shiba.jpg" }));
        })(),
      ),
    ).toBe("PermissionDenied");
  });

  test("a writer uploads into its bucket but can't read it or write others", async () => {
    const files = as(writer, transport);
    const res = await uploadFile(files, "cats", `from-${transport}.bin`, content(100));
    expect(res.file?.bytes).toBe(100n);
    expect(await codeOf(files.getFile({ bucket: "cats", key: `from-${transport}.bin` }))).toBe("PermissionDenied");
    expect(await codeOf(files.createUploadSession({ bucket: "dogs", key: "x", size: 1n }))).toBe("PermissionDenied");
  });

  test("sessions belong to their bucket's writers", async () => {
    const { session } = await as(admin, transport).createUploadSession({ bucket: "dogs", key: "s.bin", size: 4n });
    const files = as(writer, transport);
    expect(await codeOf(files.getUploadSession({ uploadId: session!.id }))).toBe("PermissionDenied");
    expect(await codeOf(files.uploadContent(chunks(session!.id, content(4))))).toBe("PermissionDenied");
    expect(await codeOf(files.cancelUploadSession({ uploadId: session!.id }))).toBe("PermissionDenied");
    expect((await as(admin, transport).getUploadSession({ uploadId: session!.id })).session?.offset).toBe(0n);
  });
});

describe("over REST", () => {
  const call = (method: string, path: string, key?: string, body?: string) =>
    fetch(t.baseUrl + path, { method, body, headers: key ? { authorization: `Bearer ${key}` } : {} });

  test("401 with WWW-Authenticate without a key, 403 without access, 200 with it", async () => {
    const none = await call("GET", "/v1/files");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.json()).toEqual({
      code: "unauthenticated",
      message: expect.stringMatching(/Authorization: Bearer/),
    });
    expect((await call("GET", "/v1/files", "wrong-key-0123456789abcdef")).status).toBe(401);
    expect((await call("GET", "/v1/files/dogs/shiba.jpg", reader)).status).toBe(403);
    expect((await call("GET", "/v1/files/wolves/none.jpg", reader)).status).toBe(403);
    expect((await call("GET", "/v1/files/cats/tabby.jpg:content", reader)).status).toBe(200);
    expect(await (await call("GET", "/v1/files", reader)).json()).toEqual({ data: [{ name: "cats" }] });
  });

  test("a raw upload needs write access to the session's bucket", async () => {
    const created = (await (
      await call("POST", "/v1/files", admin, JSON.stringify({ bucket: "dogs", key: "r.bin", size: 3 }))
    ).json()) as { id: string };
    expect((await call("POST", `/v1/files/session:${created.id}`, writer, "abc")).status).toBe(403);
    expect((await call("POST", `/v1/files/session:${created.id}`, admin, "abc")).status).toBe(200);
  });

  test("documentation stays open", async () => {
    expect((await call("GET", "/openapi.json")).status).toBe(200);
  });
});

describe("logging", () => {
  test("keys never reach the log", () => {
    const all = logLines.join("\n");
    expect(all).toMatch(/listening/);
    for (const key of [admin, reader, writer, "wrong-key-0123456789abcdef"]) expect(all).not.toContain(key);
  });
});

describe("without keys", () => {
  test("the service refuses to listen beyond loopback unless told to", async () => {
    const db = await createTestDatabase();
    const blobDir = await mkdtemp(path.join(tmpdir(), "files-open-"));
    try {
      const flags = (extra: string[]) =>
        loadConfig(
          ["--port", "0", "--database-url", db.url, "--database-schema", db.schema, "--blob-dir", blobDir, ...extra],
          {},
        );
      await expect(startApp(flags(["--host", "0.0.0.0"]), createLogger({ silent: true }))).rejects.toThrow(
        /no API keys are configured.*--allow-open-access/,
      );
      const open = await startApp(
        flags(["--host", "0.0.0.0", "--allow-open-access", "true"]),
        createLogger({ silent: true }),
      );
      await open.close();
    } finally {
      await db.drop();
      await rm(blobDir, { recursive: true, force: true });
    }
  });

  test("on loopback it runs open, and says so", async () => {
    const lines: string[] = [];
    const open = await startTestApp({}, {}, (line) => lines.push(line));
    try {
      expect(lines.join("\n")).toMatch(/no API keys configured/);
      const files = createClient(FilesService, createGrpcTransport({ baseUrl: open.baseUrl }));
      expect(await codeOf(files.listBuckets({}))).toBe("ok");
    } finally {
      await open.close();
    }
  });
});
