/**
 * Errors say why in a way programs can read: the standard google.rpc.ErrorInfo detail with a
 * reason, on every protocol; REST picks its status by that reason (413 for sizes), and no REST-only
 * detail travels to gRPC or Connect clients.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { HttpErrorStatusSchema } from "../../gen/transcoding/v1/annotations_pb.js";
import { restCall } from "../support/rest.js";
import { startTestApp, transportNames, type TestApp } from "../support/test-app.js";
import { chunks, content } from "../support/uploads.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "max-file-size": "1MiB" });
});
afterAll(() => t?.close());

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected a failure");
}

describe.each(transportNames)("over %s", (name) => {
  test("a size beyond the maximum: resource_exhausted with reason FILE_TOO_LARGE, and no HTTP status detail", async () => {
    const err = await failure(
      t.client(name).createUploadSession({ bucket: "r", key: "big", size: 2n * 1024n * 1024n }),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.findDetails(ErrorInfoSchema).map((d) => [d.reason, d.domain])).toEqual([["FILE_TOO_LARGE", "files.v1"]]);
    expect(err.findDetails(HttpErrorStatusSchema)).toEqual([]);
  });

  test("content past the declared size: out_of_range with reason CONTENT_PAST_DECLARED_SIZE", async () => {
    const { session } = await t.client(name).createUploadSession({ bucket: "r", key: "small", size: 10n });
    const err = await failure(t.client(name).uploadContent(chunks(session!.id, content(11))));
    expect(err.code).toBe(Code.OutOfRange);
    expect(err.findDetails(ErrorInfoSchema).map((d) => d.reason)).toEqual(["CONTENT_PAST_DECLARED_SIZE"]);
  });
});

test("REST answers those reasons 413, and other codes their usual status", async () => {
  const tooBig = await restCall(
    t.baseUrl,
    "POST",
    "/v1/files",
    JSON.stringify({ bucket: "r", key: "big", size: 2 * 1024 * 1024 }),
  );
  expect([tooBig.status, tooBig.json().code]).toEqual([413, "resource_exhausted"]);
  const created = await restCall(
    t.baseUrl,
    "POST",
    "/v1/files",
    JSON.stringify({ bucket: "r", key: "rest", size: 10 }),
  );
  const past = await restCall(t.baseUrl, "POST", `/v1/files/session:${created.json().id}`, Buffer.alloc(11));
  expect([past.status, past.json().code]).toEqual([413, "out_of_range"]);
  const wrongOffset = await restCall(t.baseUrl, "POST", `/v1/files/session:${created.json().id}`, Buffer.alloc(5), {
    "upload-offset": "3",
  });
  expect(wrongOffset.status).toBe(409);
});
