/**
 * An OpenAPI 3.1 document of the REST routes, built from the same google.api.http annotations and
 * transcoding.v1 options the transcoder serves, with the proto comments as descriptions. JSON
 * schemas follow what the transcoder writes: proto field names, 64-bit integers as numbers.
 *
 * Routes with a custom HTTP method are left out: OpenAPI has no way to say them.
 * A path variable over several segments (`{key=**}`) becomes a plain `{key}` parameter whose
 * description says it may contain "/": OpenAPI has no multi-segment parameters.
 */
import {
  ScalarType,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
} from "@bufbuild/protobuf";
import { queryParameterFields } from "./field-paths.js";
import { createRouteTable, type Route } from "./route-table.js";

/** Describes a descriptor (its leading comment), or undefined. */
export type CommentSource = (desc: DescService | DescMethod | DescMessage | DescField | DescEnum) => string | undefined;

/** What goes into the document's info and servers. */
export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
  serverUrl?: string;
}

type Schema = Record<string, unknown>;

const standardMethods = new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"]);

const errorSchema: Schema = {
  type: "object",
  description: "An error: the RPC's code and a message that says what was wrong.",
  properties: { code: { type: "string", examples: ["not_found"] }, message: { type: "string" } },
  required: ["code", "message"],
};

/** Builds the document for every annotated method of `services`. */
export function createOpenApiDocument(
  services: readonly DescService[],
  info: OpenApiInfo,
  comment: CommentSource = () => undefined,
): Record<string, unknown> {
  const table = createRouteTable(services.flatMap((s) => s.methods));
  const schemas: Record<string, Schema> = { Error: errorSchema };
  const ref = (desc: DescMessage | DescEnum): Schema => {
    const name = desc.typeName;
    if (!(name in schemas)) {
      schemas[name] = {}; // placeholder first: messages may refer to themselves
      schemas[name] = desc.kind === "enum" ? enumSchema(desc, comment) : messageSchema(desc, comment, fieldSchema);
    }
    return { $ref: `#/components/schemas/${name}` };
  };
  const fieldSchema = (field: DescField): Schema => withDescription(valueSchema(field, ref), comment(field));

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of table.routes) {
    // OpenAPI knows only the standard methods; a custom one (HttpRule `custom`) can't be described.
    if (!standardMethods.has(route.httpMethod)) continue;
    const path = openApiPath(route);
    paths[path] ??= {};
    paths[path][route.httpMethod.toLowerCase()] = operation(route, ref, fieldSchema, comment);
  }
  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: services.map((s) => ({ name: s.name, ...(comment(s) ? { description: comment(s) } : {}) })),
    paths,
    components: { schemas },
  };
}

function openApiPath(route: Route): string {
  const t = route.template;
  const names = t.variables.map((v) => v.join("."));
  const parts: string[] = [];
  const done = new Set<number>();
  for (const s of t.segments) {
    if (s.variable === undefined) parts.push(s.kind === "literal" ? s.value : s.kind === "single" ? "*" : "**");
    else if (!done.has(s.variable)) {
      done.add(s.variable);
      parts.push(`${s.kind === "single" ? s.prefix : ""}{${names[s.variable]}}`);
    }
  }
  return `/${parts.join("/")}${t.verb ? `:${t.verb}` : ""}`;
}

function operation(
  route: Route,
  ref: (d: DescMessage | DescEnum) => Schema,
  fieldSchema: (f: DescField) => Schema,
  comment: CommentSource,
) {
  // Parameters and headers carry the field's comment themselves; their schemas stay bare.
  const { method } = route;
  const input = method.input;
  const pathFields = new Set(route.template.variables.map((v) => v.join(".")));
  const parameters: Schema[] = route.template.variables.map((v, i) => {
    const field = fieldAt(input, v);
    const multi = route.template.multiSegment[i] ? ' It may contain "/".' : "";
    return {
      name: v.join("."),
      in: "path",
      required: true,
      schema: valueSchema(field, ref),
      description: (comment(field) ?? "") + multi,
    };
  });
  for (const binding of route.rest?.requestHeaders ?? []) {
    const field = fieldAt(input, binding.field.split("."));
    parameters.push({
      name: binding.header,
      in: "header",
      required: false,
      schema: valueSchema(field, ref),
      description: comment(field),
    });
  }
  if (route.body !== "*") {
    for (const [name, field] of queryParameterFields(input)) {
      const top = name.split(".")[0];
      if (pathFields.has(name) || top === route.bodyField?.name) continue;
      parameters.push({
        name,
        in: "query",
        required: false,
        schema: valueSchema(field, ref),
        description: comment(field),
      });
    }
  }

  const op: Record<string, unknown> = {
    operationId: `${method.parent.name}_${method.name}`,
    tags: [method.parent.name],
    summary: firstSentence(comment(method)),
    description: comment(method),
    parameters,
  };
  const rawBody = route.bodyField?.fieldKind === "scalar" && route.bodyField.scalar === ScalarType.BYTES;
  if (route.body === "*") op.requestBody = { required: true, content: { "application/json": { schema: ref(input) } } };
  else if (rawBody)
    op.requestBody = {
      required: false,
      content: {
        "application/octet-stream": { schema: { type: "string", contentMediaType: "application/octet-stream" } },
      },
    };
  else if (route.bodyField)
    op.requestBody = { required: true, content: { "application/json": { schema: fieldSchema(route.bodyField) } } };

  const responseHeaders = Object.fromEntries(
    (route.rest?.responseHeaders ?? []).map((h) => {
      const field = fieldAt(method.output, h.field.split("."));
      return [h.header, { schema: valueSchema(field, ref), description: comment(field) }];
    }),
  );
  const body = route.responseBodyField ? fieldSchema(route.responseBodyField) : ref(method.output);
  const responses: Record<string, unknown> = {};
  if (route.rest?.download) {
    const binary = { "*/*": { schema: { type: "string", contentMediaType: "application/octet-stream" } } };
    const etag = {
      ETag: { schema: { type: "string" } },
      "Content-Length": { schema: { type: "integer" } },
      "Content-Disposition": {
        schema: { type: "string" },
        description:
          "attachment, or inline for the media types the server shows (never HTML or SVG); with the file name when the method names one.",
      },
      "X-Content-Type-Options": { schema: { type: "string", const: "nosniff" } },
      "Content-Security-Policy": {
        schema: { type: "string", const: "sandbox" },
        description: "Uploaded content never runs scripts in this origin.",
      },
    };
    parameters.push({
      name: "Range",
      in: "header",
      required: false,
      schema: { type: "string" },
      description: "One byte range, e.g. bytes=0-1023, bytes=1024- or bytes=-100.",
    });
    parameters.push({ name: "If-None-Match", in: "header", required: false, schema: { type: "string" } });
    responses["200"] = {
      description: "The content, with the representation's media type.",
      headers: etag,
      content: binary,
    };
    responses["206"] = {
      description: "The requested range.",
      headers: { ...etag, "Content-Range": { schema: { type: "string" } } },
      content: binary,
    };
    responses["304"] = { description: "Not modified: If-None-Match matched the ETag." };
    responses["416"] = {
      description: "The range starts past the end.",
      content: { "application/json": { schema: ref0() } },
    };
  } else if (method.methodKind === "server_streaming") {
    responses["200"] = {
      description: "Newline-delimited JSON, one message a line.",
      content: { "application/x-ndjson": { schema: body } },
    };
  } else {
    const nullable = route.responseBodyField?.fieldKind === "message" ? { oneOf: [body, { type: "null" }] } : body;
    responses["200"] = {
      description: "OK",
      headers: responseHeaders,
      content: { "application/json": { schema: nullable } },
    };
  }
  if (rawBody)
    responses["415"] = {
      description: "A multipart/form-data body: send the raw bytes instead.",
      content: { "application/json": { schema: ref0() } },
    };
  responses.default = {
    description: "An error; the status follows the code (400, 404, 409, 413, 503, ...).",
    content: { "application/json": { schema: ref0() } },
  };
  op.responses = responses;
  return op;
}

function ref0(): Schema {
  return { $ref: "#/components/schemas/Error" };
}

function fieldAt(schema: DescMessage, path: readonly string[]): DescField {
  let current = schema;
  let field: DescField | undefined;
  for (const name of path) {
    field = current.fields.find((f) => f.name === name || f.jsonName === name)!;
    if (field.fieldKind === "message") current = field.message;
  }
  return field!;
}

function messageSchema(desc: DescMessage, comment: CommentSource, fieldSchema: (f: DescField) => Schema): Schema {
  const known = wellKnown(desc.typeName);
  if (known) return withDescription(known, comment(desc));
  return withDescription(
    { type: "object", properties: Object.fromEntries(desc.fields.map((f) => [f.name, fieldSchema(f)])) },
    comment(desc),
  );
}

function enumSchema(desc: DescEnum, comment: CommentSource): Schema {
  return withDescription({ type: "string", enum: desc.values.map((v) => v.name) }, comment(desc));
}

function valueSchema(field: DescField, ref: (d: DescMessage | DescEnum) => Schema): Schema {
  switch (field.fieldKind) {
    case "scalar":
      return scalarSchema(field.scalar);
    case "enum":
      return ref(field.enum);
    case "message":
      return ref(field.message);
    case "list":
      return { type: "array", items: elementSchema(field.listKind, field, ref) };
    case "map":
      return { type: "object", additionalProperties: elementSchema(field.mapKind, field, ref) };
  }
}

/** The schema of a list's elements or a map's values. */
function elementSchema(
  kind: "scalar" | "enum" | "message",
  field: { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage },
  ref: (desc: DescMessage | DescEnum) => Schema,
): Schema {
  if (kind === "scalar") return scalarSchema(field.scalar!);
  return ref(kind === "enum" ? field.enum! : field.message!);
}

function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { type: "number" };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "integer", format: "int64" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "integer", format: "int64", minimum: 0 };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int32", minimum: 0 };
    default:
      return { type: "integer", format: "int32" };
  }
}

function wellKnown(typeName: string): Schema | undefined {
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return { type: "string", examples: ["1.5s"] };
    case "google.protobuf.Empty":
      return { type: "object" };
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true };
    case "google.protobuf.Value":
      return {};
    default:
      return undefined;
  }
}

function withDescription(schema: Schema, description: string | undefined): Schema {
  return description ? { ...schema, description } : schema;
}

function firstSentence(text: string | undefined): string | undefined {
  return text?.split(/(?<=\.)\s/)[0];
}
