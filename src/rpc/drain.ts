/**
 * Counts RPC handlers still running, so that shutdown can wait for them: when the server cuts a
 * connection, the upload handler on it still has to commit what it received, and the database must
 * stay open until it has.
 */
import type { Interceptor } from "@connectrpc/connect";

/** Tracks running handlers. */
export interface Drain {
  /** Counts every call from start to the end of its response (stream). */
  interceptor: Interceptor;
  /** How many handlers run now. */
  readonly running: number;
  /** Resolves once no handler runs (or after `timeoutMs`); answers how many were still running. */
  idle(timeoutMs: number): Promise<number>;
}

/** Creates a drain tracker. */
export function createDrain(): Drain {
  let running = 0;
  let wake: (() => void) | undefined;
  const done = () => {
    running--;
    if (running === 0) wake?.();
  };
  return {
    interceptor: (next) => async (req) => {
      running++;
      let streaming = false;
      try {
        const res = await next(req);
        if (!res.stream) return res;
        streaming = true;
        return { ...res, message: counted(res.message, done) };
      } finally {
        if (!streaming) done();
      }
    },
    get running() {
      return running;
    },
    async idle(timeoutMs) {
      if (running === 0) return 0;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, timeoutMs).unref();
      });
      return running;
    },
  };
}

async function* counted<T>(messages: AsyncIterable<T>, done: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    done();
  }
}
