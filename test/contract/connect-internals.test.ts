/**
 * What the service relies on in Connect's private protocol internals (src/transcoding/connect-internals.ts),
 * pinned: a Connect upgrade that changes any of it fails here, in one place, with a name.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  createHandlerContext,
  createMethodImplSpec,
  type Interceptor,
} from "@connectrpc/connect";
import { GetFileRequestSchema, FilesService, type GetFileResponse } from "../../gen/files/v1/files_pb.js";
import * as internals from "../../src/transcoding/connect-internals.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test("async iterables and envelopes: createAsyncIterable, encodeEnvelope", async () => {
  expect(await collect(internals.createAsyncIterable([1, 2]))).toEqual([1, 2]);
  const data = new Uint8Array([7, 8, 9]);
  const envelope = internals.encodeEnvelope(internals.connectEndStreamFlag, data);
  expect([...envelope]).toEqual([0b10, 0, 0, 0, 3, 7, 8, 9]); // flags, big-endian length, data
});

test("Connect protocol pieces: codes, statuses, headers, end-stream and error serialisation", () => {
  expect(internals.codeToString(Code.ResourceExhausted)).toBe("resource_exhausted");
  expect(
    [
      Code.Canceled,
      Code.ResourceExhausted,
      Code.FailedPrecondition,
      Code.Aborted,
      Code.DataLoss,
      Code.Unauthenticated,
    ].map(internals.codeToHttpStatus),
  ).toEqual([499, 429, 400, 409, 500, 401]);
  expect(internals.parseConnectContentType("application/connect+json")).toEqual({ stream: true, binary: false });
  expect(internals.parseConnectContentType("application/proto")).toEqual({ stream: false, binary: true });
  const err = new ConnectError("no", Code.NotFound);
  const end = internals
    .createConnectEndStreamSerialization(undefined)
    .serialize({ metadata: new Headers(), error: err });
  expect(JSON.parse(new TextDecoder().decode(end))).toEqual({ error: { code: "not_found", message: "no" } });
  expect(JSON.parse(new TextDecoder().decode(internals.connectErrorToJsonBytes(err, undefined)))).toEqual({
    code: "not_found",
    message: "no",
  });
  expect([
    internals.connectContentTypeUnaryJson,
    internals.connectContentTypeStreamJson,
    internals.connectContentTypeStreamProto,
  ]).toEqual(["application/json", "application/connect+json", "application/connect+proto"]);
});

test("gRPC and gRPC-Web pieces: content types and trailer status", () => {
  expect(internals.parseGrpcContentType("application/grpc")).toEqual({ binary: true, codec: undefined });
  expect(internals.parseGrpcWebContentType("application/grpc-web+json")).toMatchObject({ binary: false, text: false });
  expect([
    internals.grpcContentTypeProto,
    internals.grpcContentTypeJson,
    internals.grpcWebContentTypeProto,
    internals.grpcWebContentTypeJson,
  ]).toEqual([
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web+proto",
    "application/grpc-web+json",
  ]);
  const trailer = internals.setGrpcTrailerStatus(new Headers(), new ConnectError("no key", Code.Unauthenticated));
  expect([trailer.get("grpc-status"), trailer.get("grpc-message")]).toEqual(["16", "no%20key"]);
});

test("a router handler answers an unparsable binary message INTERNAL 'parse binary…' (which the service calls the client's), and bad JSON INVALID_ARGUMENT already", async () => {
  const router = createConnectRouter();
  router.service(FilesService, { getFile: async () => ({}) });
  const handler: internals.UniversalHandler = router.handlers.find((h) => h.method.name === "GetFile")!;
  const call = async (contentType: string, body: Uint8Array) => {
    const res = await handler({
      httpVersion: "1.1",
      method: "POST",
      url: `http://x${handler.requestPath}`,
      header: new Headers({ "content-type": contentType }),
      body: internals.createAsyncIterable([body]),
      signal: new AbortController().signal,
    });
    const text = new TextDecoder().decode(Buffer.concat(await collect(res.body ?? internals.createAsyncIterable([]))));
    return {
      status: res.status,
      error: (res.status === 200 ? {} : JSON.parse(text)) as { code: string; message: string },
    };
  };
  const binary = await call("application/proto", new Uint8Array([0xff, 0xff, 0xff]));
  expect(binary.status).toBe(500);
  expect(binary.error.code).toBe("internal");
  expect(internals.isUnparsableBinaryMessage(binary.error.message)).toBe(true);
  const json = await call("application/json", new TextEncoder().encode("{bad"));
  expect([json.status, json.error.code]).toEqual([400, "invalid_argument"]);
  // A message that parses is not mistaken for one that does not.
  const ok = await call(
    "application/proto",
    toBinary(GetFileRequestSchema, create(GetFileRequestSchema, { bucket: "b" })),
  );
  expect(ok.status).toBe(200);
});

test("transformInvokeImplementation runs an implementation through interceptors on message objects, its output normalized", async () => {
  const seen: string[] = [];
  const interceptor: Interceptor = (next) => async (req) => {
    seen.push(`${req.method.name} ${req.header.get("x-test")} ${req.contextValues.get(marker)}`);
    return next(req);
  };
  const marker = createContextKey("none");
  const spec = createMethodImplSpec(FilesService.method.getFile, (req) => ({ file: { bucket: req.bucket, key: "k" } }));
  const context = createHandlerContext({
    service: FilesService,
    method: FilesService.method.getFile,
    protocolName: "rest",
    requestMethod: "GET",
    url: "http://x/v1/files/b/k",
    requestHeader: { "x-test": "yes" },
    contextValues: createContextValues().set(marker, "set"),
  });
  const out = (await collect(
    internals.transformInvokeImplementation(spec, context, [interceptor])(
      internals.createAsyncIterable([create(GetFileRequestSchema, { bucket: "b", key: "k" })]),
    ),
  )) as GetFileResponse[];
  expect(seen).toEqual(["GetFile yes set"]);
  expect(out).toHaveLength(1);
  // Normalized: a message of the output schema, not the plain object the implementation answered.
  expect(out[0]!.$typeName).toBe("files.v1.GetFileResponse");
  expect(out[0]!.file?.$typeName).toBe("files.v1.File");
  expect(out[0]!.file?.bucket).toBe("b");
});
