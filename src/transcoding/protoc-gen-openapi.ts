/**
 * protoc-gen-openapi: a protoc/buf plugin that writes openapi.json for the annotated services of
 * the files it is asked to generate. buf runs it locally (buf.gen.yaml, strategy: all), so the
 * document is generated offline, beside the code, and checked for freshness like the code.
 *
 *   CodeGeneratorRequest on stdin → createOpenApiDocument → CodeGeneratorResponse on stdout
 *
 * Parameters (opt): title=..., version=..., server=... (the base URL shown to readers).
 */
import { create, createFileRegistry, fromBinary, hasOption, toBinary, type DescFile } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import { CodeGeneratorRequestSchema, CodeGeneratorResponse_Feature, CodeGeneratorResponseSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createOpenApiDocument, type CommentSource } from "./openapi.js";

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const request = fromBinary(CodeGeneratorRequestSchema, Buffer.concat(chunks));
const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
const params = new Map(request.parameter.split(",").filter(Boolean).map((p) => p.split("=", 2) as [string, string]));

const files = request.fileToGenerate.map((name) => registry.getFile(name)!);
// Only services with REST routes: a gRPC-only one (e.g. grpc.health.v1.Health) has no place here.
const services = files.flatMap((f) => f.services).filter((s) => s.methods.some((m) => hasOption(m, http)));
const document = createOpenApiDocument(
  services,
  {
    title: params.get("title") ?? services.map((s) => s.name).join(", "),
    version: params.get("version") ?? "v1",
    description: services.map((s) => commentOf(s)).filter(Boolean).join("\n\n") || undefined,
    serverUrl: params.get("server"),
  },
  commentOf,
);

const response = create(CodeGeneratorResponseSchema, {
  supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
  file: [{ name: "openapi.json", content: JSON.stringify(document, null, 2) + "\n" }],
});
process.stdout.write(toBinary(CodeGeneratorResponseSchema, response));

/** The leading comment of a declaration, from its file's source info. */
function commentOf(desc: Parameters<CommentSource>[0]): string | undefined {
  const file: DescFile = desc.kind === "field" ? desc.parent.file : desc.kind === "rpc" ? desc.parent.file : desc.file;
  const path = pathOf(desc);
  const location = file.proto.sourceCodeInfo?.location.find((l) => l.path.length === path.length && l.path.every((p, i) => p === path[i]));
  const text = location?.leadingComments?.trim();
  return text ? text.replace(/\s*\n\s*/g, " ") : undefined;
}

/** The SourceCodeInfo path of a declaration (field numbers of FileDescriptorProto and friends). */
function pathOf(desc: Parameters<CommentSource>[0]): number[] {
  switch (desc.kind) {
    case "service":
      return [6, desc.file.proto.service.indexOf(desc.proto)];
    case "rpc":
      return [...pathOf(desc.parent), 2, desc.parent.proto.method.indexOf(desc.proto)];
    case "message":
      return desc.parent ? [...pathOf(desc.parent), 3, desc.parent.proto.nestedType.indexOf(desc.proto)] : [4, desc.file.proto.messageType.indexOf(desc.proto)];
    case "enum":
      return desc.parent ? [...pathOf(desc.parent), 4, desc.parent.proto.enumType.indexOf(desc.proto)] : [5, desc.file.proto.enumType.indexOf(desc.proto)];
    case "field":
      return [...pathOf(desc.parent), 2, desc.parent.proto.field.indexOf(desc.proto)];
  }
}
