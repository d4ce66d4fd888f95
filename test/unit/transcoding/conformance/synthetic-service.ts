/**
 * Services made up at test time, so the conformance cases run against the real route table and
 * request binding: each upstream test registers its own set of templates, and a descriptor built
 * in code (one method per route, google.api.http set as an option) is the cheapest way to get a
 * DescMethod for each without a .proto file per case.
 */
import {
  create,
  createFileRegistry,
  type DescMessage,
  type DescService,
  type MessageInitShape,
  setExtension,
} from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  DescriptorProtoSchema,
  EnumDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  MethodDescriptorProtoSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import { http } from "../../../../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../../../../gen/google/api/http_pb.js";

/** A field: name, then "string" | "int64" | "enum:<Name>" | "<Message>", optionally repeated. */
type FieldSpec = [name: string, type: string, repeated?: "repeated"];

/**
 * The messages every synthetic service knows: `Req`, whose string fields are the variable names
 * the path-matcher tests use (plus a nested e.f.g for a dotted body path), and a copy of the
 * upstream test/bookstore.proto messages for the binding tests.
 */
const messages: Record<string, FieldSpec[]> = {
  Req: [
    ["x", "string"],
    ["y", "string"],
    ["z", "string"],
    ["t", "string"],
    ["a", "string"],
    ["b", "string"],
    ["id", "string"],
    ["e", "E"],
  ],
  E: [["f", "F"]],
  F: [["g", "string"]],
  Biography: [
    ["year_born", "int64"],
    ["year_died", "int64"],
    ["text", "string"],
  ],
  AuthorInfo: [
    ["first_name", "string"],
    ["last_name", "string"],
    ["bio", "Biography"],
  ],
  Book: [
    ["author", "string"],
    ["name", "string"],
    ["title", "string"],
    ["author_info", "AuthorInfo"],
  ],
  Shelf: [
    ["name", "string"],
    ["theme", "string"],
    ["type", "enum:ShelfType"],
  ],
  ListShelvesResponse: [["shelves", "Shelf", "repeated"]],
  CreateShelfRequest: [["shelf", "Shelf"]],
  GetShelfRequest: [["shelf", "int64"]],
  CreateBookRequest: [
    ["shelf", "int64"],
    ["book", "Book"],
  ],
};

/** One route of a synthetic service. */
export interface SyntheticRoute {
  httpMethod: string;
  template: string;
  /** HttpRule.body; "" by default. */
  body?: string;
  /** The request message (a key of the table above); Req by default. */
  input?: string;
}

const pkg = "conformance.v1";

function messageProto(name: string, fields: FieldSpec[]): DescriptorProto {
  return create(DescriptorProtoSchema, {
    name,
    field: fields.map(([fieldName, type, repeated], i) => {
      const label = repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL;
      const jsonName = fieldName.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const base = { name: fieldName, number: i + 1, label, jsonName };
      if (type === "string") return { ...base, type: FieldDescriptorProto_Type.STRING };
      if (type === "int64") return { ...base, type: FieldDescriptorProto_Type.INT64 };
      if (type.startsWith("enum:"))
        return { ...base, type: FieldDescriptorProto_Type.ENUM, typeName: `.${pkg}.${type.slice(5)}` };
      return { ...base, type: FieldDescriptorProto_Type.MESSAGE, typeName: `.${pkg}.${type}` };
    }),
  });
}

/**
 * A service with one method per route (named R0, R1, ... in order), each with that route as its
 * google.api.http option, over proto3 messages compiled from the table above.
 */
export function syntheticService(routes: readonly SyntheticRoute[]): DescService {
  const method = routes.map((r, i) => {
    const options = create(MethodOptionsSchema);
    const verb = r.httpMethod.toLowerCase();
    const pattern: MessageInitShape<typeof HttpRuleSchema>["pattern"] = [
      "get",
      "put",
      "post",
      "delete",
      "patch",
    ].includes(verb)
      ? ({ case: verb, value: r.template } as never)
      : { case: "custom", value: { kind: r.httpMethod, path: r.template } };
    setExtension(options, http, create(HttpRuleSchema, { pattern, body: r.body ?? "" }));
    const input = `.${pkg}.${r.input ?? "Req"}`;
    return create(MethodDescriptorProtoSchema, { name: `R${i}`, inputType: input, outputType: input, options });
  });
  const file = create(FileDescriptorProtoSchema, {
    name: "conformance.proto",
    package: pkg,
    syntax: "proto3",
    messageType: Object.entries(messages).map(([name, fields]) => messageProto(name, fields)),
    enumType: [
      create(EnumDescriptorProtoSchema, {
        name: "ShelfType",
        value: ["CLASSIC", "COMIC", "HORROR", "OTHER"].map((name, number) => ({ name, number })),
      }),
    ],
    service: [{ name: "Conformance", method }],
  });
  return createFileRegistry(file, () => undefined).getService(`${pkg}.Conformance`)!;
}

/** A message of the synthetic file, by short name. */
export function syntheticMessage(name: string): DescMessage {
  return syntheticService([]).file.messages.find((m) => m.name === name)!;
}
