/**
 * Builds an RPC request message from the parts of an HTTP request, as google.api.HttpRule says:
 * path variables, then the body ("*": the whole message; "field": that field), then query
 * parameters for the fields neither of them set, then our header bindings. Everything is gathered
 * as proto3 JSON and parsed once by protobuf-es, so every field type parses as it does in JSON.
 *
 * Query parameters: names may be proto (snake_case) or JSON (camelCase) names, dotted for nested
 * fields (`a.b=1`); a repeated field takes the parameter more than once. A parameter naming no
 * field, or one the path or body binds, is refused with INVALID_ARGUMENT. The field a rule's
 * `body` names is bound to the body whether or not one was sent (a raw body, an empty one): a
 * query parameter never sets it, nor any field inside it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  fromJson,
  type DescField,
  type DescMessage,
  type JsonObject,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import { findField, queryParameterFields, resolveFieldPath } from "./field-paths.js";
import type { Route } from "./route-table.js";
import type { Bindings } from "./path-template.js";

/** The parts of an HTTP request that bind to fields. */
export interface RequestParts {
  /** Path variables (field path → decoded value). */
  bindings: Bindings;
  query: URLSearchParams;
  /** Header values by lower-case name. */
  header: (name: string) => string | undefined;
  /** The parsed JSON body; undefined when there is none (or the body is raw bytes). */
  body?: JsonValue;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** The request message of `route` from the parts of an HTTP request. */
export function bindRequest(route: Route, parts: RequestParts): Message {
  const schema = route.method.input;
  const json: JsonObject = {};
  // Field paths set so far (proto names, dotted), and by what.
  const setBy = new Map<string, string>();

  if (route.body === "*" && parts.body !== undefined) {
    if (parts.body === null || typeof parts.body !== "object" || Array.isArray(parts.body))
      throw invalid(`the request body must be a JSON object (${schema.typeName})`);
    for (const [name, value] of Object.entries(parts.body)) {
      const field = findField(schema, name);
      if (!field) throw invalid(`the request body has an unknown field "${name}"`);
      json[field.name] = value;
      setBy.set(field.name, "the body");
    }
  } else if (route.bodyField) {
    if (parts.body !== undefined) json[route.bodyField.name] = parts.body;
    setBy.set(route.bodyField.name, "the body");
  }

  for (const [path, value] of parts.bindings) {
    const fields = resolveFieldPath(schema, path);
    const key = fields.map((f) => f.name).join(".");
    const previous = readJsonPath(json, fields);
    const coerced = fromString(fields.at(-1)!, value, `path segment ${JSON.stringify(value)}`);
    if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(coerced)) {
      throw invalid(`field ${key} is given by the path as ${JSON.stringify(value)} and differently by the body`);
    }
    writeJsonPath(json, fields, coerced);
    setBy.set(key, "the path");
  }

  const names = new Set(parts.query.keys());
  if (names.size > 0 && route.body === "*") {
    throw invalid(
      `unexpected query parameter "${[...names][0]}": this request takes all its fields from the JSON body`,
    );
  }
  for (const name of names)
    bindScalar(schema, json, setBy, name, parts.query.getAll(name), `query parameter "${name}"`);

  for (const binding of route.rest?.requestHeaders ?? []) {
    const value = parts.header(binding.header.toLowerCase());
    if (value === undefined) continue;
    const fields = resolveFieldPath(schema, binding.field);
    const key = fields.map((f) => f.name).join(".");
    const coerced = fromString(fields.at(-1)!, value.trim(), `header ${binding.header}`);
    const previous = readJsonPath(json, fields);
    if (previous !== undefined && JSON.stringify(previous) !== JSON.stringify(coerced)) {
      throw invalid(
        `header ${binding.header}: ${value} disagrees with the ${key} given by ${setBy.get(key) ?? "the request"}`,
      );
    }
    writeJsonPath(json, fields, coerced);
  }

  try {
    return fromJson(schema, json);
  } catch (err) {
    throw invalid(`invalid request: ${(err as Error).message}`);
  }
}

function bindScalar(
  schema: DescMessage,
  json: JsonObject,
  setBy: Map<string, string>,
  name: string,
  values: string[],
  what: string,
): void {
  let fields: DescField[];
  try {
    fields = resolveFieldPath(schema, name);
  } catch {
    const known = queryParameterFields(schema)
      .map(([path]) => path)
      .filter((f) => ![...setBy.keys()].some((set) => f === set || f.startsWith(`${set}.`)))
      .join(", ");
    throw invalid(`unknown ${what}${known ? `; this request takes ${known}` : ""}`);
  }
  const key = fields.map((f) => f.name).join(".");
  for (const [path, by] of setBy) {
    if (path !== key && !path.startsWith(`${key}.`) && !key.startsWith(`${path}.`)) continue;
    if (by === "the body")
      throw invalid(
        `${what}: field ${key} is bound to the request body, so a query parameter may not set it; send it in the body`,
      );
    throw invalid(`${what}: field ${key} is already set by ${by}`);
  }
  const leaf = fields.at(-1)!;
  if (leaf.fieldKind === "list") {
    writeJsonPath(
      json,
      fields,
      values.map((v) => fromString(leaf, v, what)),
    );
  } else {
    if (values.length > 1) throw invalid(`${what} is given ${values.length} times but is not repeated`);
    writeJsonPath(json, fields, fromString(leaf, values[0], what));
  }
  setBy.set(key, "a query parameter");
}

/** The JSON value for a field given as text (query, path or header), checked on its own so that an error names `what`. */
function fromString(field: DescField, text: string, what: string): JsonValue {
  const value = textToJson(field, text, what);
  try {
    fromJson(field.parent, { [field.name]: field.fieldKind === "list" && !Array.isArray(value) ? [value] : value });
  } catch (err) {
    throw invalid(`${what}: ${(err as Error).message}`);
  }
  return value;
}

function textToJson(field: DescField, text: string, what: string): JsonValue {
  const scalar = field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  const isEnum = field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum");
  if (field.fieldKind === "map") throw invalid(`${what}: map field ${field.name} cannot be set this way`);
  if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) {
    const typeName = field.message!.typeName;
    // Well-known types written as a JSON string or number (Timestamp, Duration, wrappers, ...).
    if (/^google\.protobuf\.(Timestamp|Duration|FieldMask|\w+Value)$/.test(typeName)) return text;
    throw invalid(`${what}: field ${field.name} is a message; set its fields as ${field.name}.<field>`);
  }
  if (isEnum) return /^-?\d+$/.test(text) ? Number(text) : text;
  if (scalar === ScalarType.BOOL) {
    if (text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    throw invalid(`${what}: expected true or false, got ${JSON.stringify(text)}`);
  }
  return text; // strings, bytes (base64) and numbers: proto3 JSON takes all of them as strings
}

function readJsonPath(json: JsonObject, fields: readonly DescField[]): JsonValue | undefined {
  let current: JsonValue | undefined = json;
  for (const f of fields) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = current[f.name] ?? current[f.jsonName];
  }
  return current;
}

function writeJsonPath(json: JsonObject, fields: readonly DescField[], value: JsonValue): void {
  let current = json;
  for (const f of fields.slice(0, -1)) {
    const next = current[f.name];
    if (next === null || typeof next !== "object" || Array.isArray(next)) current[f.name] = {};
    current = current[f.name] as JsonObject;
  }
  current[fields.at(-1)!.name] = value;
}
