/**
 * gRPC server reflection, driven by a client we did not write: `buf curl` lists the methods and
 * calls them with no schema but what the server answers. Then the protocol's own questions over a
 * real stream: files with their imports (each once per stream), symbols, unknown names.
 */
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  type ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const buf = `${root}node_modules/.bin/buf`;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const bufCurl = async (...args: string[]) =>
  (await promisify(execFile)(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { cwd: root }))
    .stdout;

test("buf curl --list-methods lists every method of every service the router has", async () => {
  const listed = (await bufCurl("--list-methods", t.baseUrl)).trim().split("\n").sort();
  const expected = [
    ...FilesService.methods.map((m) => `${FilesService.typeName}/${m.name}`),
    ...Health.methods.map((m) => `${Health.typeName}/${m.name}`),
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  ].sort();
  expect(listed).toEqual(expected);
});

test("buf curl calls FilesService by reflection alone, and older tools' v1alpha lists the same services", async () => {
  const created = JSON.parse(
    await bufCurl(
      "-d",
      JSON.stringify({ bucket: "reflected", key: "a.txt", size: "3", mime_type: "text/plain" }),
      `${t.baseUrl}/files.v1.FilesService/CreateUploadSession`,
    ),
  );
  expect(created.session).toMatchObject({ bucket: "reflected", key: "a.txt", size: "3", mimeType: "text/plain" });
  const read = JSON.parse(
    await bufCurl(
      "-d",
      JSON.stringify({ upload_id: created.session.id }),
      `${t.baseUrl}/files.v1.FilesService/GetUploadSession`,
    ),
  );
  expect(read.session.id).toBe(created.session.id);
  const services = (await bufCurl("--reflect-protocol", "grpc-v1alpha", "--list-services", t.baseUrl))
    .trim()
    .split("\n");
  expect(services.sort()).toEqual(
    [
      FilesService.typeName,
      Health.typeName,
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ].sort(),
  );
});

test("a file comes with its imports, each once per stream; unknown names answer NOT_FOUND", async () => {
  const client = createClient(ServerReflection, createGrpcTransport({ baseUrl: t.baseUrl }));
  const questions: MessageInitShape<typeof ServerReflectionRequestSchema>[] = [
    { messageRequest: { case: "fileByFilename", value: "files/v1/files.proto" } },
    { messageRequest: { case: "fileContainingSymbol", value: "files.v1.FilesService.UploadContent" } },
    { messageRequest: { case: "fileContainingSymbol", value: "google.api.HttpRule" } },
    { messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } },
    { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
    { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
  ];
  const answers: ServerReflectionResponse[] = [];
  for await (const answer of client.serverReflectionInfo(
    (async function* () {
      for (const q of questions) yield q;
    })(),
  ))
    answers.push(answer);
  const files = (a: ServerReflectionResponse) =>
    a.messageResponse.case === "fileDescriptorResponse"
      ? a.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)
      : a.messageResponse.case;
  const first = files(answers[0]) as string[];
  expect(first[0]).toBe("files/v1/files.proto");
  expect(first).toEqual(
    expect.arrayContaining([
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
    ]),
  );
  // Asked again on the same stream: the file itself, not its imports a second time.
  expect(files(answers[1])).toEqual(["files/v1/files.proto"]);
  expect(files(answers[2])).toEqual(["google/api/http.proto"]);
  for (const i of [3, 4])
    expect(answers[i].messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  // google.api.http extends MethodOptions; its file is among those the router's services use.
  expect(answers[5].messageResponse).toMatchObject({
    case: "allExtensionNumbersResponse",
    value: { baseTypeName: "google.protobuf.MethodOptions", extensionNumber: expect.arrayContaining([72295728]) },
  });
  expect(answers[0].originalRequest?.messageRequest).toEqual(questions[0].messageRequest);
});
