/**
 * Progress bars on stderr (so stdout stays for results), with the transfer rate and an ETA, one
 * per file; only when stderr is a terminal: a script or a log file gets no bars, just the results.
 */
import cliProgress from "cli-progress";
import { formatBytes } from "./output.js";

/** One file's bar. */
export interface ProgressBar {
  /** Sets the bytes done. */
  update(done: number): void;
}

/** The bars of one command. */
export interface Progress {
  /** A bar for `name`, `total` bytes, starting at `done` (what a previous run already did). */
  add(name: string, total: number, done: number): ProgressBar;
  /** A line for people: above the bars, or on stderr when there are none. */
  note(line: string): void;
  /** Draws the bars a last time and leaves them. */
  stop(): void;
}

/** Bars when `tty` (default: stderr is a terminal), otherwise just the notes. */
export function createProgress(tty = process.stderr.isTTY === true): Progress {
  if (!tty) {
    return {
      add: () => ({ update() {} }),
      note: (line) => process.stderr.write(`${line}\n`),
      stop() {},
    };
  }
  const bars = new cliProgress.MultiBar(
    {
      // Fits 80 columns, which cli-progress would otherwise cut the line to.
      format: "{name} {bar} {percentage}% {done}/{size} {rate} ETA {eta_formatted}",
      barCompleteChar: "█",
      barIncompleteChar: "░",
      barsize: 14,
      hideCursor: true,
      fps: 5,
      etaBuffer: 50,
      autopadding: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    add(name, total, done) {
      const started = Date.now();
      const label = name.length > 16 ? `…${name.slice(-15)}` : name.padEnd(16);
      const payload = (value: number) => {
        // The rate of this run: bytes a previous run sent do not count.
        const seconds = (Date.now() - started) / 1000;
        const rate =
          seconds > 0.5 || (value >= total && seconds > 0) ? `${formatBytes((value - done) / seconds)}/s` : "…";
        return { name: label, done: formatBytes(value), size: formatBytes(total), rate };
      };
      // A bar of an empty file is full from the start (cli-progress divides by the total).
      const bar = bars.create(Math.max(total, 1), total === 0 ? 1 : done, payload(done));
      return { update: (value) => bar.update(total === 0 ? 1 : value, payload(value)) };
    },
    note: (line) => bars.log(`${line}\n`),
    stop: () => bars.stop(),
  };
}
