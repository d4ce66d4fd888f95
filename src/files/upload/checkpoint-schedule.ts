/**
 * When a writer makes what it received durable: every checkpoint's worth of bytes, at offsets where
 * the store syncs cheaply, with at most one checkpoint running while receiving goes on. A failed
 * checkpoint stays failed, to fail everything after it: a failed fsync may have lost the bytes
 * since the last good one, so nothing past that may ever be counted.
 */

// How many checkpoints' worth a writer may receive while one is still being made durable.
const checkpointsAhead = 3;

/** The checkpoints of one writer. */
export class CheckpointSchedule {
  readonly #bytes: number;
  readonly #step: number;
  #next: number;
  #running: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;

  /**
   * Checkpoints every `bytes`, from `offset` on, at multiples of `alignment` (a store's cheap sync
   * points: 1 for a file, the part size for an object store) — unless checkpoints were asked for
   * more often than such points come, which then cost more each.
   */
  constructor(bytes: number, alignment: number, offset: number) {
    this.#bytes = bytes;
    this.#step = bytes >= alignment ? alignment : 1;
    this.#next = this.#after(offset);
  }

  /** Bytes that may be written from `written` before the next checkpoint is due (a piece is cut there). */
  room(written: number): number {
    return this.#next - written;
  }

  /** Whether a checkpoint is due at `written`; if it is, the next one goes a checkpoint's worth on. */
  take(written: number): boolean {
    if (written < this.#next) return false;
    this.#next = this.#after(written);
    return true;
  }

  /**
   * Starts `commit` in the background, after the running one. While one runs, a checkpoint due
   * meanwhile is skipped for the next one, and only a writer `behind` bytes ahead of the last commit
   * by a few checkpoints waits for it (an fsync stalled every upload for its duration otherwise). A
   * failed one fails this call at once.
   */
  async start(commit: () => Promise<void>, behind: number): Promise<void> {
    if (this.#running) {
      if (this.#failure) throw this.#failure.error;
      if (behind < checkpointsAhead * this.#bytes) return;
      await this.#running;
    }
    const running = commit();
    this.#running = running;
    running.then(
      () => {
        if (this.#running === running) this.#running = undefined;
      },
      (error: unknown) => {
        this.#failure ??= { error };
      },
    );
  }

  /** The running checkpoint (rejecting if it failed), if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  #after(offset: number): number {
    return Math.ceil((offset + this.#bytes) / this.#step) * this.#step;
  }
}
