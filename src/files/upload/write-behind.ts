/**
 * Writes in flight: receiving the next message overlaps with writing the previous ones, up to a
 * bound on the bytes not yet written and on the number of writes (memory stays bounded by both: a
 * client sending one-byte messages must not pile up millions of pending writes). The first failure
 * is kept and thrown by every later write, because a write that failed may have left a hole that
 * no later write may be counted past; what was written before it may still be.
 */
import type { BlobAppender } from "../../store/blobs/blob-store.js";

/** Bounded writes in flight to one appender. */
export class WriteBehind {
  readonly #appender: BlobAppender;
  readonly #limitBytes: number;
  readonly #limitWrites: number;
  // Each write's outcome: what it failed with, or undefined.
  readonly #inflight: { outcome: Promise<{ error: unknown } | undefined>; bytes: number }[] = [];
  #inflightBytes = 0;
  #failure: { error: unknown } | undefined;
  /** A failed write no longer in #inflight. */
  #failedEarlier: { error: unknown } | undefined;

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
    const outcome = this.#appender.write(data).then(
      () => undefined,
      (error: unknown) => {
        this.#failure ??= { error };
        return { error };
      },
    );
    this.#inflight.push({ outcome, bytes: data.byteLength });
    this.#inflightBytes += data.byteLength;
    while (this.#inflightBytes > this.#limitBytes || this.#inflight.length > this.#limitWrites) {
      const oldest = this.#inflight.shift()!;
      const failed = await oldest.outcome;
      // Leaving the list, it is still before everything a later drain waits for.
      if (failed) this.#failedEarlier ??= failed;
      this.#inflightBytes -= oldest.bytes;
    }
    this.throwIfFailed();
  }

  /**
   * Waits for every write started so far (writes may go on starting meanwhile: a checkpoint
   * drains while receiving continues); throws if one of them failed. A later write's failure is
   * not theirs: what was written before it may still be made durable and counted.
   */
  async drain(): Promise<void> {
    const outcomes = await Promise.all(this.#inflight.map((w) => w.outcome));
    const failed = this.#failedEarlier ?? outcomes.find((f) => f !== undefined);
    if (failed) throw failed.error;
  }

  /** Waits for every write started so far, failed or not (before the handle closes). */
  async settled(): Promise<void> {
    await Promise.all(this.#inflight.map((w) => w.outcome));
  }

  /** Throws the first write failure, if there was one. */
  throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
