/**
 * How the CLI prints results: plain lines for people (one record a line, the exact byte count
 * first, so that `cut` and `awk` work too), or one JSON document with --json.
 */
import type { File } from "../client/index.js";

/** A file as the CLI prints it in JSON: plain numbers and an ISO date. */
export interface FileJson {
  bucket: string;
  key: string;
  bytes: number;
  mimeType: string;
  sha256: string;
  createdAt: string;
  url: string;
}

/** The JSON form of a file. */
export function fileJson(file: File): FileJson {
  return {
    bucket: file.bucket,
    key: file.key,
    bytes: Number(file.bytes),
    mimeType: file.mimeType,
    sha256: file.sha256,
    createdAt: new Date(Number(file.createdAt) * 1000).toISOString(),
    url: file.url,
  };
}

/** Writes one JSON document to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes lines to stdout. */
export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
}

/** Bytes for people: 1023 B, 1.5 KiB, 12.0 MiB, 1.00 GiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
