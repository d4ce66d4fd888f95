/**
 * When a call's response stream has ended, and how: the interceptors that report a call once it
 * is over (its log line, its span) wrap the stream with {@link watchResponseEnd}.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * `messages` as they are, telling `ended` once how the stream ended: with no error, with the
 * error it threw, or CANCELED when its consumer stopped early (the client went away while we
 * were sending). A method with one answer is over once it has given it: the in-process callers
 * (REST, tus, the draft) take that answer and stop asking. `inContext`, when given, wraps the
 * function that asks for each next message (to run the method's code in a trace context).
 */
export async function* watchResponseEnd<T>(
  messages: AsyncIterable<T>,
  method: DescMethod,
  ended: (err?: unknown) => void,
  inContext?: (next: () => Promise<IteratorResult<T>>) => () => Promise<IteratorResult<T>>,
): AsyncGenerator<T> {
  const source = messages[Symbol.asyncIterator]();
  const single = method.methodKind === "unary" || method.methodKind === "client_streaming";
  let answered = false;
  // Made once: nothing more per message on the download path (only a one-answer method is watched for its answer).
  const next = single
    ? async () => {
        const result = await source.next();
        answered ||= !result.done;
        return result;
      }
    : () => source.next();
  // yield* hands on the consumer's throw() and return() as well: the error mapping below turns a
  // response that could not be written (thrown in by the transport) into CANCELED.
  const inner: AsyncIterator<T> = {
    next: inContext ? inContext(next) : next,
    return: source.return?.bind(source),
    throw: source.throw?.bind(source),
  };
  let over = false;
  try {
    yield* { [Symbol.asyncIterator]: () => inner };
    over = true;
    ended();
  } catch (err) {
    over = true;
    ended(err);
    throw err;
  } finally {
    if (!over) ended(single && answered ? undefined : new ConnectError("the response was cut off", Code.Canceled));
  }
}
