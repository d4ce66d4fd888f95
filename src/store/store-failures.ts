/**
 * Failures of a store, as the service needs to tell them apart. Each store classifies its own —
 * Postgres and postgres.js codes in database.ts, errno values in the directory store — so that the
 * mapping to RPC codes (src/rpc/error-mapping.ts) knows no driver, and another backend plugs in with a
 * classifier of its own (go-cloud's blob drivers answer ErrorCode(err) the same way).
 */

/** What kind of failure a store met. */
export type StoreFailureKind =
  /** Unreachable, restarting, out of connections or handles, a failing disk: retrying later will work. */
  | "unavailable"
  /** It gave up waiting (a lock that a stuck transaction holds): nothing was done; retry. */
  | "timed-out"
  /** A concurrent update won (serialisation failure, deadlock): retry at once. */
  | "conflict"
  /** Out of space or quota: retry after space is freed. */
  | "full";

/** A classified failure. */
export interface StoreFailure {
  kind: StoreFailureKind;
  /** Which store: metadata (the database) or content (the blob store). */
  store: "metadata" | "content";
  /** The driver's own code, for the log. */
  code: string;
}

/** A store's classification of an error: undefined when the error is not one of its failures. */
export type StoreFailureClassifier = (err: unknown) => StoreFailure | undefined;

/** The code an error carries, when it carries a string one (errno names, SQLSTATEs). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}
