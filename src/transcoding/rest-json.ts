/**
 * The JSON REST clients read: proto3 JSON with proto field names (snake_case), every field shown
 * (zero values included, so `"offset": 0` is there), and 64-bit integers as JSON numbers rather
 * than proto3 JSON's strings. Numbers past 2^53 are written with all their digits; a JavaScript
 * reader may round them, other readers won't.
 */
import { toJson, type DescField, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";

/** A JSON value that may hold bigints (64-bit integers) where numbers go. */
export type RestJson = null | boolean | number | bigint | string | RestJson[] | { [key: string]: RestJson };

const int64Types = new Set([
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);
// Wrapper types whose proto3 JSON is a 64-bit integer as a string.
const int64Wrappers = new Set(["google.protobuf.Int64Value", "google.protobuf.UInt64Value"]);
// Well-known types with a JSON form of their own: left as protobuf-es writes them.
const ownJsonForm =
  /^google\.protobuf\.(Any|Timestamp|Duration|FieldMask|Struct|Value|ListValue|NullValue|Empty|\w+Value)$/;

/** A message as REST JSON. */
export function messageToRestJson<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): { [key: string]: RestJson } {
  const json = toJson(schema, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as JsonValue;
  return int64sToNumbers(schema, json) as { [key: string]: RestJson };
}

function int64sToNumbers(schema: DescMessage, json: JsonValue): RestJson {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return json;
  const out: { [key: string]: RestJson } = {};
  for (const [key, value] of Object.entries(json)) {
    const field = schema.fields.find((f) => f.name === key);
    out[key] = field ? convertField(field, value) : value;
  }
  return out;
}

function convertField(field: DescField, value: JsonValue): RestJson {
  switch (field.fieldKind) {
    case "scalar":
      return convertScalar(field.scalar, value);
    case "message":
      return convertMessage(field.message, value);
    case "list":
      if (!Array.isArray(value)) return value;
      if (field.listKind === "scalar") return value.map((v) => convertScalar(field.scalar, v));
      if (field.listKind === "message") return value.map((v) => convertMessage(field.message, v));
      return value;
    case "map": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
      const out: { [key: string]: RestJson } = {};
      for (const [k, v] of Object.entries(value)) {
        out[k] =
          field.mapKind === "scalar"
            ? convertScalar(field.scalar, v)
            : field.mapKind === "message"
              ? convertMessage(field.message, v)
              : v;
      }
      return out;
    }
    default:
      return value;
  }
}

function convertMessage(schema: DescMessage, value: JsonValue): RestJson {
  if (int64Wrappers.has(schema.typeName)) return convertScalar(ScalarType.INT64, value);
  if (ownJsonForm.test(schema.typeName)) return value;
  return int64sToNumbers(schema, value);
}

function convertScalar(type: ScalarType, value: JsonValue): RestJson {
  return int64Types.has(type) && typeof value === "string" && /^-?\d+$/.test(value) ? BigInt(value) : value;
}

/** JSON text of a REST JSON value; bigints are written as plain numbers. */
export function stringifyRestJson(value: RestJson): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(stringifyRestJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return (
      "{" +
      Object.entries(value)
        .map(([k, v]) => `${JSON.stringify(k)}:${stringifyRestJson(v)}`)
        .join(",") +
      "}"
    );
  }
  return JSON.stringify(value);
}
