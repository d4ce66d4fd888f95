/**
 * Access control for FilesService: each call is authenticated by its bearer key
 * (`Authorization: Bearer <key>`, the same header as gRPC metadata), and the handlers ask
 * {@link authorize} before they touch a bucket.
 *
 * - No key, or one that is not ours: UNAUTHENTICATED (401), decided from the headers alone,
 *   before a byte of the body is read (see {@link Authentication.check}).
 * - A key without the access the call needs: PERMISSION_DENIED (403). For calls that name a
 *   bucket it is decided before anything is looked up, so a caller never learns whether a bucket
 *   it may not read exists. Calls that name an upload session look the session up first, to learn
 *   its bucket: a caller may learn whether a session id exists, never what it holds (the refusal
 *   names the session, not its bucket or key).
 * - With no keys configured every call is allowed (the server then listens on loopback only).
 */
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { ApiKeys, Grant } from "./api-keys.js";

/** Who makes a call: a key's grant, or "open" when no keys are configured. */
export type Caller = Grant | "open";

/** The caller of the current request, set by the interceptor. */
const kCaller = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });

/** What a call does to a bucket. */
export type Access = "read" | "write";

/** Authentication of calls by their Authorization header. */
export interface Authentication {
  /**
   * The caller of a call to `service` (a type name) that carries this Authorization header:
   * undefined for an open service, else the key's grant ("open" without keys). Throws
   * UNAUTHENTICATED, with a WWW-Authenticate challenge, for a missing or unknown key. It needs
   * nothing but the header, so the server runs it before reading a request body: an anonymous
   * client can't make the server read, buffer or parse anything.
   */
  check(service: string, authorization: string | null | undefined): Caller | undefined;
  /**
   * The interceptor that authenticates every call the router runs (REST calls included) and
   * remembers its caller for {@link authorize}.
   */
  interceptor: Interceptor;
}

/**
 * Authentication by `keys` of every service except those named in `open` (health checks must
 * answer probes that carry no key). Secure by default: a new service needs a key.
 */
export function createAuthentication(keys: ApiKeys, open: readonly string[] = []): Authentication {
  const exempt = new Set(open);
  const check = (service: string, authorization: string | null | undefined): Caller | undefined => {
    if (exempt.has(service)) return undefined;
    if (!keys.enabled) return "open";
    const header = authorization ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m)
      throw unauthenticated(
        header === ""
          ? "this service needs an API key: send Authorization: Bearer <key>"
          : "the Authorization header must be Bearer <key>",
      );
    const grant = keys.find(m[1]);
    if (!grant) throw unauthenticated("the API key is not valid");
    return grant;
  };
  return {
    check,
    interceptor: (next) => async (req) => {
      const caller = check(req.service.typeName, req.header.get("authorization"));
      if (caller !== undefined) req.contextValues.set(kCaller, caller);
      return next(req);
    },
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
 * The id of the API key that made the call, for per-key limits; undefined when the service runs
 * without keys (then only the service-wide limits apply).
 */
export function callerKeyId(ctx: HandlerContext): string | undefined {
  const caller = ctx.values.get(kCaller);
  return caller === "open" || caller === undefined ? undefined : caller.id;
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
