/**
 * A raw HTTP request body as a client stream, without copying it on the way: the handler reads a
 * first message (the fields from path, query and headers), then the body in messages of at most
 * `pieceBytes`, each holding it in the bytes field that the rule's `body` names.
 *
 * The body's own chunks are framed as they are — a 5-byte Connect envelope header and the field's
 * tag and length in front of the chunks that make up one piece — so the only copy is the one the
 * handler makes when it reads an envelope. (Going through a Transport would serialize each piece
 * twice more.) Pieces are made only as fast as the handler asks for messages, so a slow disk slows
 * the client down through TCP instead of filling memory.
 */
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import { fromBinary, toBinary, type DescField, type DescMethod, type Message } from "@bufbuild/protobuf";
import {
  connectEndStreamFlag as endStreamFlag,
  connectEndStreamFromJson as endStreamFromJson,
  connectRequestHeader as requestHeader,
  createAsyncIterable,
  encodeEnvelope,
  pipe,
  transformSplitEnvelope,
  type UniversalHandler,
} from "./connect-internals.js";
import { requestBodyBrokeOff } from "./node-http.js";

/** One client-streaming call whose messages after the first carry a raw body. */
export interface RawClientStream {
  handler: UniversalHandler;
  method: DescMethod;
  /** Headers for the RPC (authorization and the like). */
  header: Headers;
  contextValues: ContextValues | undefined;
  signal: AbortSignal;
  /** The first message: everything but the body. */
  first: Message;
  /** The bytes field the body goes into (top level, as HttpRule requires). */
  field: DescField;
  body: AsyncIterable<Uint8Array>;
  pieceBytes: number;
}

/** Runs the call; answers the response message or throws the RPC's error. */
export async function callWithRawBody(call: RawClientStream): Promise<Message> {
  const { method } = call;
  const res = await call.handler({
    httpVersion: "2.0",
    method: "POST",
    url: `http://in-process${call.handler.requestPath}`,
    header: requestHeader("client_streaming", true, undefined, call.header, false),
    body: envelopes(call),
    signal: call.signal,
    contextValues: call.contextValues,
  });
  if (res.status !== 200)
    throw new ConnectError(`${method.name}: the handler answered HTTP ${res.status}`, Code.Internal);
  let answer: Message | undefined;
  for await (const env of pipe(
    res.body ?? createAsyncIterable<Uint8Array>([]),
    transformSplitEnvelope(Number.MAX_SAFE_INTEGER),
  )) {
    if ((env.flags & endStreamFlag) === endStreamFlag) {
      const end = endStreamFromJson(env.data);
      if (end.error) throw end.error;
    } else answer = fromBinary(method.output, env.data);
  }
  if (!answer) throw new ConnectError(`${method.name} answered no message`, Code.Internal);
  return answer;
}

async function* envelopes(call: RawClientStream): AsyncIterable<Uint8Array> {
  yield encodeEnvelope(0, toBinary(call.method.input, call.first));
  const tag = varint((call.field.number << 3) | 2); // wire type 2: length-delimited
  for await (const piece of groupInto(call.body, call.pieceBytes)) {
    const length = varint(piece.bytes);
    const head = new Uint8Array(5 + tag.length + length.length);
    new DataView(head.buffer).setUint32(1, tag.length + length.length + piece.bytes); // flags 0, then the size
    head.set(tag, 5);
    head.set(length, 5 + tag.length);
    yield head;
    yield* piece.chunks;
  }
}

/** Chunks adding up to one piece. */
interface Piece {
  chunks: Uint8Array[];
  bytes: number;
}

/**
 * Groups a byte stream into pieces of exactly `size` bytes (the last one shorter), without
 * copying. If the source fails (the client went away), what had arrived is still handed on before
 * the error, so the RPC can keep it; the error is then a cancellation by the client (CANCELED).
 */
async function* groupInto(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Piece> {
  let piece: Piece = { chunks: [], bytes: 0 };
  try {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.byteLength; ) {
        const n = Math.min(size - piece.bytes, chunk.byteLength - at);
        piece.chunks.push(at === 0 && n === chunk.byteLength ? chunk : chunk.subarray(at, at + n));
        piece.bytes += n;
        at += n;
        if (piece.bytes === size) {
          yield piece;
          piece = { chunks: [], bytes: 0 };
        }
      }
    }
  } catch (err) {
    if (piece.bytes > 0) yield piece;
    throw requestBodyBrokeOff(err);
  }
  if (piece.bytes > 0) yield piece;
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  for (let v = value; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      out.push(v);
      return Uint8Array.from(out);
    }
    out.push((v % 128) | 128);
  }
}
