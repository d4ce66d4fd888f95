/**
 * How a download is presented (Content-Disposition): shown in the browser ("inline") only when its
 * media type is on a short list of types a browser displays without running anything; saved
 * ("attachment") otherwise. Stored content is whatever someone uploaded, so an HTML page or an SVG
 * image shown inline would run its scripts in the service's origin (stored XSS): those are always
 * attachments, whatever the list says. The filename is encoded by the `content-disposition`
 * package (RFC 6266, with RFC 8187 `filename*` for names beyond ASCII).
 */
import { create } from "content-disposition";

/** Media types shown inline unless told otherwise: what browsers display without running scripts. */
export const defaultInlineContentTypes: readonly string[] = [
  "image/*",
  "application/pdf",
  "text/plain",
  "video/*",
  "audio/*",
];

// Types a browser renders as a document that runs scripts: never inline, even under "image/*".
const neverInline = new Set(["text/html", "application/xhtml+xml", "image/svg+xml"]);

// A media type ("text/plain") or a whole top-level type ("image/*"): RFC 9110 tokens, less "*",
// which only stands alone for "any subtype".
const pattern = /^[a-z0-9!#$%&'+.^_`|~-]+\/([a-z0-9!#$%&'+.^_`|~-]+|\*)$/;

/** What is wrong with an entry of an inline list, or undefined when it is fine. */
export function inlineContentTypeProblem(entry: string): string | undefined {
  const type = entry.trim().toLowerCase();
  if (!pattern.test(type)) return `"${entry}" is not a media type such as image/png or image/*`;
  if (neverInline.has(type)) return `${type} is never shown inline: its scripts would run in this service's origin`;
  return undefined;
}

/** Chooses the Content-Disposition of a download. */
export type DispositionPolicy = (contentType: string, filename: string | undefined) => string;

/**
 * A policy that shows the `inline` types inline (exact types, or `type/*`) and makes everything
 * else an attachment. Throws when an entry is not a media type or is a type never shown inline.
 */
export function createDispositionPolicy(inline: readonly string[] = defaultInlineContentTypes): DispositionPolicy {
  for (const entry of inline) {
    const problem = inlineContentTypeProblem(entry);
    if (problem) throw new Error(`inline content types: ${problem}`);
  }
  const exact = new Set(inline.map((t) => t.trim().toLowerCase()).filter((t) => !t.endsWith("/*")));
  const whole = new Set(
    inline
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t.endsWith("/*"))
      .map((t) => t.slice(0, -1)),
  );
  const showInline = (contentType: string) => {
    const essence = contentType.split(";", 1)[0].trim().toLowerCase(); // without charset and the like
    if (neverInline.has(essence)) return false;
    return exact.has(essence) || whole.has(essence.slice(0, essence.indexOf("/") + 1));
  };
  return (contentType, filename) =>
    create(filename || undefined, { type: showInline(contentType) ? "inline" : "attachment" });
}

/** The file name a path-like value stands for: its last "/"-separated segment ("a/b/c.txt" → "c.txt"). */
export function lastSegment(value: string): string {
  return value.slice(value.lastIndexOf("/") + 1);
}
