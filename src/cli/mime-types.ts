/**
 * The media type a file is uploaded with when --mime-type does not say: guessed from its extension
 * for the common kinds, application/octet-stream otherwise (the server serves unknown types as
 * attachments, which is the safe side).
 */
import path from "node:path";

const byExtension: Record<string, string> = {
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".csv": "text/csv",
  ".html": "text/html",
  ".htm": "text/html",
  ".css": "text/css",
  ".js": "text/javascript",
  ".json": "application/json",
  ".xml": "application/xml",
  ".pdf": "application/pdf",
  ".zip": "application/zip",
  ".gz": "application/gzip",
  ".tar": "application/x-tar",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
};

/** The media type of a file name. */
export function guessMimeType(file: string): string {
  return byExtension[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}
