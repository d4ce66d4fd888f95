/**
 * The draft's header fields. Upload-Complete, Upload-Offset and Upload-Length are RFC 9651
 * structured-field Items (a Boolean `?1`/`?0`, Integers), possibly with parameters, which are
 * ignored; a value that does not parse makes the field count as absent, as the draft says.
 * Upload-Limit is a Dictionary of Integers.
 */

/** An Item's bare value, its parameters (`;name=value`) dropped; undefined for no field or two. */
function bareItem(value: string | undefined): string | undefined {
  // Node joins repeated fields with ", ": a List, not an Item, so no value at all.
  if (value === undefined || value.includes(",")) return undefined;
  return value.split(";")[0].trim();
}

/** A Boolean Item (`?1` or `?0`), or undefined. */
export function booleanField(value: string | undefined): boolean | undefined {
  const item = bareItem(value);
  return item === "?1" ? true : item === "?0" ? false : undefined;
}

/** A non-negative Integer Item (at most 15 digits, as RFC 9651 allows), or undefined. */
export function integerField(value: string | undefined): number | undefined {
  const item = bareItem(value);
  return item !== undefined && /^\d{1,15}$/.test(item) ? Number(item) : undefined;
}

/** Upload-Limit: the limits a client must keep to, as a Dictionary of Integers. */
export function uploadLimit(limits: { maxSize: number; maxAgeSeconds?: number }): string {
  // min-size=0: an upload needs a known length (Upload-Length, or Content-Length with ?1).
  const members = [`max-size=${limits.maxSize}`, "min-size=0"];
  if (limits.maxAgeSeconds !== undefined) members.push(`max-age=${Math.max(0, Math.floor(limits.maxAgeSeconds))}`);
  return members.join(", ");
}
