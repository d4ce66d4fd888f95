/**
 * A raw HTTP request body as the messages of a client stream: a first message with the fields from
 * path, query and headers, then the body cut into pieces of at most `chunkBytes`, each the bytes
 * field of one message. Pieces are made only as fast as the RPC handler asks
 * for messages, so a slow disk slows the client down (TCP backpressure) instead of filling memory.
 */
import { create, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";

/**
 * The messages of a client stream made from `body`. The first message goes out at once, before any
 * of the body arrives, so that the handler can refuse the request (no such session, another writer,
 * a wrong offset) before the client has sent it all.
 */
export async function* rawBodyMessages(
  schema: DescMessage,
  first: Message,
  field: DescField,
  body: AsyncIterable<Uint8Array>,
  chunkBytes: number,
): AsyncGenerator<Message> {
  yield first;
  for await (const piece of cutInto(body, chunkBytes)) {
    const message = create(schema);
    reflect(schema, message).set(field, piece);
    yield message;
  }
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
