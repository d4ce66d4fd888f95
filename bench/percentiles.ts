/** Latency percentiles of the load tool. */

/** Count and percentiles of a list of milliseconds. */
export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Count and percentiles of milliseconds, rounded to a tenth. */
export function percentiles(list: number[]): Percentiles {
  const sorted = [...list].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}
