/**
 * Writes in flight: receiving the next message overlaps with writing the previous ones, up to a
 * bound on the bytes not yet written and on the number of writes (memory stays bounded by both: a
 * client sending one-byte messages must not pile up millions of pending writes). The first failure is kept and
 * thrown by every later call, because a write that failed may have left a hole that no later
 * write may be counted past.
 */
import type { BlobAppender } from "../../store/blobs/blob-store.js";

/** Bounded writes in flight to one appender. */
export class WriteBehind {
  readonly #appender: BlobAppender;
  readonly #limitBytes: number;
  readonly #limitWrites: number;
  readonly #inflight: { done: Promise<void>; bytes: number }[] = [];
  #inflightBytes = 0;
  #failure: { error: unknown } | undefined;

  /** Writes to `appender`, letting at most `limitBytes` in at most `limitWrites` writes wait to be written. */
  constructor(appender: BlobAppender, limitBytes: number, limitWrites = 256) {
    this.#appender = appender;
    this.#limitBytes = limitBytes;
    this.#limitWrites = limitWrites;
  }

  /**
   * Starts writing `data` after everything before it, then waits until no more than the bound is
   * still being written; throws the first write failure.
   */
  async write(data: Uint8Array): Promise<void> {
    const done = this.#appender.write(data).catch((error: unknown) => {
      this.#failure ??= { error };
    });
    this.#inflight.push({ done, bytes: data.byteLength });
    this.#inflightBytes += data.byteLength;
    while (this.#inflightBytes > this.#limitBytes || this.#inflight.length > this.#limitWrites) {
      const oldest = this.#inflight.shift()!;
      await oldest.done;
      this.#inflightBytes -= oldest.bytes;
    }
    this.throwIfFailed();
  }

  /**
   * Waits for every write started so far (writes may go on starting meanwhile: a checkpoint
   * drains while receiving continues); throws the first write failure.
   */
  async drain(): Promise<void> {
    await this.settled();
    this.throwIfFailed();
  }

  /** Waits for every write started so far, failed or not (before the handle closes). */
  async settled(): Promise<void> {
    await Promise.all(this.#inflight.map((w) => w.done));
  }

  /** Throws the first write failure, if there was one. */
  throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
