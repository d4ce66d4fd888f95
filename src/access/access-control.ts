/**
 * Access control for FilesService: an interceptor authenticates each call by its bearer key
 * (`Authorization: Bearer <key>`, the same header as gRPC metadata), and the handlers ask
 * {@link authorize} before they touch a bucket.
 *
 * - No key, or one that is not ours: UNAUTHENTICATED (401).
 * - A key without the access the call needs: PERMISSION_DENIED (403). For calls that name a
 *   bucket it is decided before anything is looked up, so a caller never learns whether a bucket
 *   it may not read exists. Calls that name an upload session look the session up first, to learn
 *   its bucket: a caller may learn whether a session id exists, never what it holds (the refusal
 *   names the session, not its bucket or key).
 * - With no keys configured every call is allowed (the server then listens on loopback only).
 */
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { ApiKeys, Grant } from "./api-keys.js";

/** The caller of the current request: a key's grant, or "open" when no keys are configured. */
const kCaller = createContextKey<Grant | "open" | undefined>(undefined, { description: "authenticated caller" });

/** What a call does to a bucket. */
export type Access = "read" | "write";

/**
 * The interceptor that authenticates every call, except to the services named in `open` (health
 * checks must answer probes that carry no key). Secure by default: a new service needs a key.
 */
export function authentication(keys: ApiKeys, open: readonly string[] = []): Interceptor {
  const exempt = new Set(open);
  return (next) => async (req) => {
    if (exempt.has(req.service.typeName)) return next(req);
    if (!keys.enabled) {
      req.contextValues.set(kCaller, "open");
      return next(req);
    }
    const header = req.header.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw unauthenticated(header === "" ? "this service needs an API key: send Authorization: Bearer <key>" : "the Authorization header must be Bearer <key>");
    const grant = keys.find(m[1]);
    if (!grant) throw unauthenticated("the API key is not valid");
    req.contextValues.set(kCaller, grant);
    return next(req);
  };
}

/** Throws PERMISSION_DENIED unless the caller may `access` the bucket. */
export function authorize(ctx: HandlerContext, access: Access, bucket: string): void {
  if (!mayAccess(ctx, access, bucket)) {
    throw new ConnectError(`this API key may not ${access} bucket ${JSON.stringify(bucket)}`, Code.PermissionDenied);
  }
}

/**
 * Throws PERMISSION_DENIED unless the caller may write the session's bucket; the message names
 * only the session, which the caller named itself.
 */
export function authorizeSession(ctx: HandlerContext, session: { id: string; bucket: string }): void {
  if (!mayAccess(ctx, "write", session.bucket)) {
    throw new ConnectError(`this API key may not write upload session ${session.id}`, Code.PermissionDenied);
  }
}

/**
 * The name of the API key that made the call, for per-key limits; undefined when the service runs
 * without keys (then only the service-wide limits apply).
 */
export function callerKeyName(ctx: HandlerContext): string | undefined {
  const caller = ctx.values.get(kCaller);
  return caller === "open" || caller === undefined ? undefined : caller.name;
}

/** Whether the caller may `access` the bucket (for filtering lists). */
export function mayAccess(ctx: HandlerContext, access: Access, bucket: string): boolean {
  const caller = ctx.values.get(kCaller);
  if (caller === "open") return true;
  if (caller === undefined) return false; // no authentication ran: deny rather than guess
  const buckets = caller[access];
  return buckets.has("*") || buckets.has(bucket);
}

function unauthenticated(message: string): ConnectError {
  const err = new ConnectError(message, Code.Unauthenticated);
  err.metadata.set("www-authenticate", 'Bearer realm="files"');
  return err;
}
