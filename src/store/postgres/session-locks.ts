/**
 * Exclusive writers for upload sessions, across every server process on one database.
 *
 * Each process keeps one dedicated connection that holds Postgres session-level advisory locks, one
 * per session being written. Postgres frees them when that connection ends, so a killed process
 * never leaves a session locked. An in-process set excludes two requests of the same process (the
 * advisory lock is re-entrant on one connection). If the lock connection drops, every lease taken
 * on it becomes invalid at once: writers check `valid` before they commit, and the committed
 * offset is additionally compare-and-set, so a stale writer can never move it.
 */
import { connectDatabase, type Sql } from "./database.js";

/** A held lock on one upload session. */
export interface SessionLease {
  /** False once the lock may have been lost (its connection closed). */
  readonly valid: boolean;
  /** Releases the lock; safe to call more than once. */
  release(): Promise<void>;
}

/** Takes and releases session locks. */
export interface SessionLocks {
  /** Locks a session for writing, or answers undefined when another request holds it. */
  tryAcquire(sessionId: string): Promise<SessionLease | undefined>;
  /** Closes the lock connection (releasing every lock). */
  close(): Promise<void>;
}

/**
 * Creates the lock manager on its own single connection to the database at `url`, which may take
 * `connectTimeoutSeconds` to open (the pool's default when unset).
 */
export function createSessionLocks(url: string, schema: string, connectTimeoutSeconds?: number): SessionLocks {
  let generation = 0;
  const held = new Set<string>(); // sessions claimed in this process, until their lease is released
  const sql: Sql = connectDatabase({
    url,
    schema,
    max: 1,
    applicationName: "files-service session locks",
    keepConnections: true,
    connectTimeoutSeconds,
    onclose: () => {
      // Every lease of this connection is lost. Their entries stay until their writers release
      // them, so that no second writer in this process starts while the first one's last writes
      // may still be landing.
      generation++;
    },
  });

  return {
    async tryAcquire(sessionId) {
      if (held.has(sessionId)) return undefined;
      const taken = generation;
      held.add(sessionId); // claim in-process first: the query below yields
      const key = lockKey(sessionId);
      try {
        const [{ locked }] = await sql`select pg_try_advisory_lock(${key}::bigint) as locked`;
        if (locked && generation !== taken) {
          // postgres.js runs queries still queued at a reconnect on the new connection, so the
          // lock may be held there: give it back, or no other process could ever take the session.
          // (Had it come from the old connection, it died with it and this unlock is a no-op.)
          await sql`select pg_advisory_unlock(${key}::bigint)`.catch(() => undefined);
        }
        if (!locked || generation !== taken) {
          held.delete(sessionId);
          return undefined;
        }
      } catch (err) {
        held.delete(sessionId);
        throw err;
      }
      let released = false;
      return {
        get valid() {
          return !released && generation === taken;
        },
        async release() {
          if (released) return;
          released = true;
          held.delete(sessionId);
          if (generation !== taken) return; // the lock went with its connection
          await sql`select pg_advisory_unlock(${key}::bigint)`.catch(() => {
            // The connection is gone, and the lock with it.
          });
        },
      };
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** The advisory lock key of a session: the first 64 bits of its UUID, as a signed bigint. */
export function lockKey(sessionId: string): string {
  return BigInt.asIntN(64, BigInt(`0x${sessionId.replace(/-/g, "").slice(0, 16)}`)).toString();
}
