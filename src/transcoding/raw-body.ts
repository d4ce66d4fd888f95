/**
 * A raw HTTP request body as the messages of a client stream: the body is cut into pieces of at
 * most `chunkBytes`, each becoming the bytes field of one message (the first message also carries
 * the fields from path, query and headers). Pieces are made only as fast as the RPC handler asks
 * for messages, so a slow disk slows the client down (TCP backpressure) instead of filling memory.
 */
import { create, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";

/** The messages of a client stream made from `body`. */
export async function* rawBodyMessages(
  schema: DescMessage,
  first: Message,
  field: DescField,
  body: AsyncIterable<Uint8Array>,
  chunkBytes: number,
): AsyncGenerator<Message> {
  let sentFirst = false;
  for await (const piece of cutInto(body, chunkBytes)) {
    const message = sentFirst ? create(schema) : first;
    reflect(schema, message).set(field, piece);
    sentFirst = true;
    yield message;
  }
  // An empty body still makes one message: the fields of path, query and headers.
  if (!sentFirst) yield first;
}

/**
 * Re-cuts a byte stream into pieces of exactly `size` bytes (the last one shorter). If the source
 * fails (the client went away), what had arrived is still handed on before the error, so the RPC
 * can keep it.
 */
export async function* cutInto(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buffer: Buffer | undefined;
  let filled = 0;
  try {
    for await (const piece of source) {
      for (let at = 0; at < piece.byteLength; ) {
        buffer ??= Buffer.allocUnsafe(size);
        const n = Math.min(size - filled, piece.byteLength - at);
        buffer.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === size) {
          yield buffer;
          buffer = undefined;
          filled = 0;
        }
      }
    }
  } catch (err) {
    if (buffer && filled > 0) yield buffer.subarray(0, filled);
    throw err;
  }
  if (buffer && filled > 0) yield buffer.subarray(0, filled);
}
