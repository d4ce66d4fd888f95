/** A plain HTTP call to a REST face, for tests: status, headers, the body as text and as JSON. */
export async function restCall(
  base: string,
  method: string,
  target: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
) {
  const res = await fetch(base + target, { method, body, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}
