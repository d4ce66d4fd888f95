/**
 * protoc-gen-openapi: a protoc/buf plugin that writes openapi.json for the annotated services of
 * the files it is asked to generate. buf runs it locally (buf.gen.yaml, strategy: all), so the
 * document is generated offline, beside the code, and checked for freshness like the code. A build
 * tool, not part of the service: the document itself is built by src/transcoding/openapi.ts.
 *
 * Parameters (opt): title=..., version=..., server=... (the base URL shown to readers).
 */
import { create, createFileRegistry, hasOption } from "@bufbuild/protobuf";
import {
  CodeGeneratorResponse_Feature,
  CodeGeneratorResponseSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { getComments, runNodeJs, type Plugin } from "@bufbuild/protoplugin";
import { http } from "../gen/google/api/annotations_pb.js";
import { createOpenApiDocument, type CommentSource } from "../src/transcoding/openapi.js";

const plugin: Plugin = {
  name: "protoc-gen-openapi",
  version: "v1",
  run(request) {
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
    const params = new Map(
      request.parameter
        .split(",")
        .filter(Boolean)
        .map((p) => p.split("=", 2) as [string, string]),
    );
    const files = request.fileToGenerate.map((name) => registry.getFile(name)!);
    // Only services with REST routes: a gRPC-only one (e.g. grpc.health.v1.Health) has no place here.
    const services = files.flatMap((f) => f.services).filter((s) => s.methods.some((m) => hasOption(m, http)));
    const document = createOpenApiDocument(
      services,
      {
        title: params.get("title") ?? services.map((s) => s.name).join(", "),
        version: params.get("version") ?? "v1",
        description:
          services
            .map((s) => commentOf(s))
            .filter(Boolean)
            .join("\n\n") || undefined,
        serverUrl: params.get("server"),
      },
      commentOf,
    );
    return create(CodeGeneratorResponseSchema, {
      supportedFeatures: BigInt(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
      file: [{ name: "openapi.json", content: `${JSON.stringify(document, null, 2)}\n` }],
    });
  },
};

/** The leading comment of a declaration, on one line. */
const commentOf: CommentSource = (desc) => {
  const text = getComments(desc).leading?.trim();
  return text ? text.replace(/\s*\n\s*/g, " ") : undefined;
};

runNodeJs(plugin);
