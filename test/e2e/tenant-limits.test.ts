/**
 * One API key cannot starve the others: per-key limits on open upload sessions and on bytes
 * declared but not yet sent, beside the service-wide cap; and a key that asks for another
 * tenant's session learns that it exists, never what it holds.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { restCall } from "../support/rest.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { chunks, content } from "../support/uploads.js";

const greedy = "greedy-key-0123456789abcdef"; // writes bucket "greedy"
const polite = "polite-key-0123456789abcdef"; // writes bucket "polite"

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    "api-keys": `${greedy}:rw:greedy ${polite}:rw:polite`,
    "max-open-sessions": "8",
    "max-open-sessions-per-key": "3",
    "max-pending-bytes-per-key": "1000",
  });
});
afterAll(() => t?.close());

function as(key: string): Client<typeof FilesService> {
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
  return createClient(FilesService, createGrpcTransport({ baseUrl: t.baseUrl, interceptors: [auth] }));
}

async function refusal(promise: Promise<unknown>): Promise<[string, string]> {
  try {
    await promise;
    return ["ok", ""];
  } catch (err) {
    const e = ConnectError.from(err);
    return [Code[e.code], e.rawMessage];
  }
}

test("a key that reaches its open-session limit is refused; every other key still creates sessions", async () => {
  const files = as(greedy);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++)
    ids.push((await files.createUploadSession({ bucket: "greedy", key: `s${i}`, size: 10n })).session!.id);
  expect(await refusal(files.createUploadSession({ bucket: "greedy", key: "s3", size: 10n }))).toEqual([
    "ResourceExhausted",
    "this API key has 3 open upload sessions (at most 3 per key); finish or cancel some, or retry later",
  ]);
  const rest = await restCall(t.baseUrl, "POST", "/v1/files", JSON.stringify({ bucket: "greedy", key: "r", size: 1 }), {
    authorization: `Bearer ${greedy}`,
  });
  expect([rest.status, rest.json().code]).toEqual([429, "resource_exhausted"]);
  // The other tenant is not affected.
  const other = await as(polite).createUploadSession({ bucket: "polite", key: "fine", size: 10n });
  expect(other.session!.offset).toBe(0n);

  // Completing or cancelling frees a place.
  await files.uploadContent(chunks(ids[0], content(10)));
  await files.cancelUploadSession({ uploadId: ids[1] });
  for (const key of ["s4", "s5"]) await files.createUploadSession({ bucket: "greedy", key, size: 10n });
  expect((await refusal(files.createUploadSession({ bucket: "greedy", key: "s6", size: 10n })))[0]).toBe(
    "ResourceExhausted",
  );
  await t.db.sql`delete from upload_sessions`;
});

test("declared bytes not yet sent are limited per key; sending them frees the room", async () => {
  const files = as(greedy);
  const big = (await files.createUploadSession({ bucket: "greedy", key: "big", size: 900n })).session!.id;
  expect(await refusal(files.createUploadSession({ bucket: "greedy", key: "more", size: 101n }))).toEqual([
    "ResourceExhausted",
    "this API key's open upload sessions await 900 bytes; 101 more would pass its limit of 1000 bytes not yet uploaded; finish or cancel some, or retry later",
  ]);
  await files.createUploadSession({ bucket: "greedy", key: "fits", size: 100n });
  // Half of the big one arrives: 450 bytes of room again.
  await files.uploadContent(chunks(big, content(450)));
  await files.createUploadSession({ bucket: "greedy", key: "now", size: 450n });
  expect((await refusal(files.createUploadSession({ bucket: "greedy", key: "one-more", size: 1n })))[0]).toBe(
    "ResourceExhausted",
  );
  expect((await as(polite).createUploadSession({ bucket: "polite", key: "big", size: 1000n })).session!.size).toBe(
    1000n,
  );
  await t.db.sql`delete from upload_sessions`;
});

test("the service-wide cap still holds across keys", async () => {
  for (let i = 0; i < 3; i++) await as(greedy).createUploadSession({ bucket: "greedy", key: `g${i}`, size: 1n });
  for (let i = 0; i < 3; i++) await as(polite).createUploadSession({ bucket: "polite", key: `p${i}`, size: 1n });
  await t.db.sql`update upload_sessions set owner = 'someone else' where key in ('g0', 'g1')`; // 6 open in all
  await as(greedy).createUploadSession({ bucket: "greedy", key: "g3", size: 1n });
  await as(greedy).createUploadSession({ bucket: "greedy", key: "g4", size: 1n }); // 8: the cap
  expect(await refusal(as(greedy).createUploadSession({ bucket: "greedy", key: "g5", size: 1n }))).toEqual([
    "ResourceExhausted",
    "too many open upload sessions (at most 8); finish or cancel some, or retry later",
  ]);
  await t.db.sql`delete from upload_sessions`;
});

test("another tenant's session: permission_denied naming the session only, never its bucket or key", async () => {
  const id = (await as(greedy).createUploadSession({ bucket: "greedy", key: "secret/plans.txt", size: 10n })).session!
    .id;
  const expected = ["PermissionDenied", `this API key may not write upload session ${id}`];
  const intruder = as(polite);
  expect(await refusal(intruder.getUploadSession({ uploadId: id }))).toEqual(expected);
  expect(await refusal(intruder.cancelUploadSession({ uploadId: id }))).toEqual(expected);
  expect(await refusal(intruder.uploadContent(chunks(id, content(10))))).toEqual(expected);
  for (const [method, body] of [
    ["GET", undefined],
    ["POST", "0123456789"],
    ["DELETE", undefined],
  ] as const) {
    const res = await restCall(t.baseUrl, method, `/v1/files/session:${id}`, body, {
      authorization: `Bearer ${polite}`,
    });
    expect([res.status, res.json()]).toEqual([403, { code: "permission_denied", message: expected[1] }]);
    expect(res.text).not.toMatch(/greedy|secret|plans/);
  }
  await t.db.sql`delete from upload_sessions`;
});
