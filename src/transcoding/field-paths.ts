/**
 * Dotted field paths ("session.offset"), as path variables, query parameters, header bindings and
 * response_body name fields: resolving them against a message descriptor, and reading them from a
 * message. Each part may be the proto name (snake_case) or the JSON name (camelCase).
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";

/** Resolves a dotted path to its fields, outermost first; every part but the last is a singular message. */
export function resolveFieldPath(schema: DescMessage, path: string): DescField[] {
  const out: DescField[] = [];
  let current: DescMessage | undefined = schema;
  for (const part of path.split(".")) {
    if (!current) throw new Error(`${path}: ${out.at(-1)!.name} is not a message field`);
    const field = findField(current, part);
    if (!field) throw new Error(`${current.typeName} has no field "${part}"`);
    out.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  return out;
}

/**
 * The fields a client may give as query parameters, by dotted path: scalars, enums and repeated
 * ones, through nested messages (to a depth of 4); not maps, which HttpRule does not bind from
 * the query, nor well-known types.
 */
export function queryParameterFields(schema: DescMessage, prefix = "", depth = 0): [string, DescField][] {
  if (depth > 3) return [];
  return schema.fields.flatMap((f): [string, DescField][] => {
    if (f.fieldKind === "message" && !f.message.typeName.startsWith("google.protobuf."))
      return queryParameterFields(f.message, `${prefix}${f.name}.`, depth + 1);
    return f.fieldKind === "map" ? [] : [[`${prefix}${f.name}`, f]];
  });
}

/** A field of `schema` by proto name or JSON name. */
export function findField(schema: DescMessage, name: string): DescField | undefined {
  return schema.fields.find((f) => f.name === name || f.jsonName === name);
}

/**
 * The value at a resolved path: a scalar's value (its zero included), or undefined when a message
 * on the way, or a oneof member, is not set.
 */
export function readFieldPath(schema: DescMessage, message: Message, fields: readonly DescField[]): unknown {
  let current: Message | undefined = message;
  let currentSchema = schema;
  for (const field of fields) {
    if (!current) return undefined;
    const r: ReflectMessage = reflect(currentSchema, current);
    // Unset means absent for a message or another oneof member; a scalar's zero is still a value.
    if ((field.fieldKind === "message" || field.oneof) && !r.isSet(field)) return undefined;
    const value: unknown = r.get(field);
    if (field.fieldKind === "message") {
      current = (value as ReflectMessage).message;
      currentSchema = field.message;
    } else return value;
  }
  return current;
}
