/**
 * The draft's answer to a client that lost its connection mid-request and asks again at once: a
 * new request on an upload ends the one still running on it (this server may not yet have noticed
 * that its client went away), and waits until what that one received is committed, so that the
 * offset it then answers is final (the draft: never an outdated offset). Only a caller whose own
 * request was allowed that far may end another (see draft-handler.ts).
 */

interface Running {
  /** Cuts the running request off (its body stops; what arrived is committed). */
  cut(): void;
  done: Promise<void>;
}

/** The requests appending to uploads on this server, by upload id. */
export interface InFlightAppends {
  /** Runs `append` as the upload's running request; `cut` ends it when a newer request comes. */
  run<T>(uploadId: string, cut: () => void, append: () => Promise<T>): Promise<T>;
  /** Whether a request is appending to the upload on this server now. */
  has(uploadId: string): boolean;
  /** Ends the upload's running request, if any, and waits until it has. */
  settle(uploadId: string): Promise<void>;
}

export function createInFlightAppends(): InFlightAppends {
  const running = new Map<string, Running>();
  return {
    async run(uploadId, cut, append) {
      const result = append();
      const entry: Running = {
        cut,
        done: result.then(
          () => undefined,
          () => undefined,
        ),
      };
      running.set(uploadId, entry);
      try {
        return await result;
      } finally {
        if (running.get(uploadId) === entry) running.delete(uploadId);
      }
    },
    has: (uploadId) => running.has(uploadId),
    async settle(uploadId) {
      const entry = running.get(uploadId);
      if (!entry) return;
      entry.cut();
      await entry.done;
    },
  };
}
