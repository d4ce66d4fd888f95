/** Time limit and minimum rate of request bodies, on plain async iterables. */
import { Code, ConnectError } from "@connectrpc/connect";
import { bodyAtMinimumRate, bodyWithinTime } from "../../../src/transcoding/request-body-limits.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A source that yields `chunks` after `gapMs` each, then never ends unless `end` is true; records return(). */
function source(chunks: number[], gapMs: number, end: boolean) {
  const state = { returned: false };
  const iterable: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        async next() {
          await sleep(gapMs);
          if (i < chunks.length) return { done: false, value: new Uint8Array(chunks[i++]) };
          if (end) return { done: true, value: undefined };
          return new Promise<IteratorResult<Uint8Array>>(() => undefined);
        },
        async return() {
          state.returned = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { iterable, state };
}

/** Reads `body`, taking `consumerMs` per chunk; answers the sizes read and the error, if any. */
async function drain(
  body: AsyncIterable<Uint8Array>,
  consumerMs = 0,
): Promise<{ sizes: number[]; err?: ConnectError }> {
  const sizes: number[] = [];
  try {
    for await (const chunk of body) {
      sizes.push(chunk.byteLength);
      if (consumerMs > 0) await sleep(consumerMs);
    }
    return { sizes };
  } catch (err) {
    return { sizes, err: ConnectError.from(err) };
  }
}

describe("bodyWithinTime", () => {
  test("a body that ends in time passes whole", async () => {
    const { iterable } = source([3, 4], 10, true);
    expect(await drain(bodyWithinTime(iterable, 1000))).toEqual({ sizes: [3, 4] });
  });

  test("a body still arriving at the limit is cut with DEADLINE_EXCEEDED, and its source is left open", async () => {
    const { iterable, state } = source([3, 4], 10, false);
    const started = Date.now();
    const { sizes, err } = await drain(bodyWithinTime(iterable, 200));
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(sizes).toEqual([3, 4]);
    expect(err?.code).toBe(Code.DeadlineExceeded);
    expect(err?.rawMessage).toBe("the request body did not arrive within 0.2 s");
    // Returning a Node request's iterator destroys the request, and with it an HTTP/1.1 socket
    // that must still carry the answer.
    expect(state.returned).toBe(false);
  });

  test("the time counts from the call, not from the first read", async () => {
    const { iterable } = source([1], 0, false);
    const limited = bodyWithinTime(iterable, 150);
    await sleep(150);
    const started = Date.now();
    expect((await drain(limited)).err?.code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(100);
  });
});

describe("bodyAtMinimumRate", () => {
  const rate = { bytesPerSecond: 1000, windowMs: 200 }; // 200 bytes per window

  test("a body above the rate passes whole, over many windows", async () => {
    const { iterable } = source(Array(20).fill(100), 40, true); // 2500 bytes/s
    const { sizes, err } = await drain(bodyAtMinimumRate(iterable, rate));
    expect(err).toBeUndefined();
    expect(sizes.length).toBe(20);
  });

  test("a body below the rate is cut after a window, and what arrived is handed on first", async () => {
    const { iterable } = source(Array(20).fill(5), 40, true); // 125 bytes/s
    const { sizes, err } = await drain(bodyAtMinimumRate(iterable, rate));
    expect(err?.code).toBe(Code.DeadlineExceeded);
    expect(err?.rawMessage).toMatch(/bytes\/s, below the minimum of 1000 bytes\/s; what arrived is kept$/);
    // Cut at the end of the first window (five or six chunks of 40 ms), the last chunk included.
    expect(sizes.length).toBeGreaterThanOrEqual(5);
    expect(sizes.length).toBeLessThan(10);
  });

  test("a slow reader does not make the client look slow: only the time spent waiting for it counts", async () => {
    // The bytes are there at once, but the reader takes 100 ms per chunk: 50 bytes/s of reading.
    const { iterable } = source(Array(8).fill(5), 0, true);
    const { sizes, err } = await drain(bodyAtMinimumRate(iterable, rate), 100);
    expect(err).toBeUndefined();
    expect(sizes.length).toBe(8);
  });
});
