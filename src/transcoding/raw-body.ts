/**
 * A raw HTTP request body as a client stream: the method reads a first message (the fields from
 * path, query and headers), then the body in messages holding it in the bytes field that the
 * rule's `body` names. Messages are objects handed over in process (in-process-methods.ts), so the
 * body's chunks reach the method as they came off the socket: a chunk is never copied, only cut
 * when it is larger than `pieceBytes`. Messages are made only as fast as the method asks for
 * them, so a slow disk slows the client down through TCP instead of filling memory.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create, type DescField, type Message } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import type { InProcessCallInit, InProcessMethod } from "./in-process-methods.js";
import { requestBodyBrokeOff } from "./node-http.js";

/** One client-streaming call whose messages after the first carry a raw body. */
export interface RawClientStream {
  method: InProcessMethod;
  /** The call as the request makes it (headers, signal, context values). */
  init: InProcessCallInit;
  /** The first message: everything but the body. */
  first: Message;
  /** The bytes field the body goes into (top level, as HttpRule requires). */
  field: DescField;
  body: AsyncIterable<Uint8Array>;
  /** The most bytes one message carries. */
  pieceBytes: number;
}

/** Runs the call; answers the response message or throws the RPC's error. */
export async function callWithRawBody(call: RawClientStream): Promise<Message> {
  const output = call.method.call(messages(call), call.init);
  for await (const answer of output) return answer;
  throw new ConnectError(`${call.method.method.name} answered no message`, Code.Internal);
}

async function* messages(call: RawClientStream): AsyncGenerator<Message> {
  yield call.first;
  const schema = call.method.method.input;
  for await (const piece of bodyPieces(call.body, call.pieceBytes)) {
    const message = create(schema);
    reflect(schema, message).set(call.field, piece);
    yield message;
  }
}

/**
 * The body's chunks, none larger than `size` (a larger one is cut, not copied). If the source
 * fails (the client went away), the error is a cancellation by the client (CANCELED).
 */
export async function* bodyPieces(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.byteLength; at += size)
        yield at === 0 && chunk.byteLength <= size ? chunk : chunk.subarray(at, Math.min(at + size, chunk.byteLength));
    }
  } catch (err) {
    throw requestBodyBrokeOff(err);
  }
}
