/**
 * One request's content appended to one locked upload session: the upload's state machine.
 *
 *   receiving ──append──▶ receiving      write behind; fsync + commit the offset every checkpoint
 *       │ ──finish───────▶ finished      everything written is fsynced and committed
 *       │ ──refuse───────▶ refused       the client's content was wrong: the request is undone whole
 *       │ ──interrupt────▶ interrupted   the client went away: what arrived is committed
 *       │ ──(lease lost)─▶ lost-lock     another writer may own the session: nothing more is done
 *       └ ──(failure)────▶ failed        a disk or database failure: nothing more is committed
 *
 * Whose fault decides what is kept: the client's content (offset mismatch, past the declared
 * size, another upload_id) keeps nothing of the request; the connection keeps what arrived, so the
 * upload resumes; the server keeps nothing more, and the next request cuts off whatever was
 * written past the committed offset. Bytes are always fsynced before the offset that counts them
 * is stored, and the offset only moves by compare-and-set while this writer holds the lock.
 */
import { createHash, type Hash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RequestChecksum, UploadContentRequest } from "../../../gen/files/v1/files_pb.js";
import type { Logger } from "../../log.js";
import type { BlobAppender } from "../../store/blobs/blob-store.js";
import type { Sql } from "../../store/postgres/database.js";
import { findSession, moveOffset, type SessionRow } from "../../store/postgres/upload-sessions.js";
import type { HashCache, RunningSha256 } from "../content-hash.js";
import {
  lockLost,
  offsetMismatch,
  pastDeclaredSize,
  requestChecksumMismatch,
  sessionEndedDuringUpload,
  uploadIdChanged,
} from "./upload-errors.js";
import { WriteBehind } from "./write-behind.js";
import { inSpan } from "../../observability/tracing.js";

// How many checkpoints' worth a writer may receive while one is still being made durable.
const checkpointsAhead = 3;

// The checksums a request may come with, and their digests' lengths.
const checksumLengths: Readonly<Record<string, number>> = { sha256: 32, sha1: 20, md5: 16 };

/** An offset to commit, and the running hash's saved state there (null where none is saved). */
interface CommitPoint {
  target: number;
  hashState: Uint8Array | null;
}

/** Where a writer is; see the module comment. */
export type WriterState = "receiving" | "finished" | "refused" | "interrupted" | "lost-lock" | "failed";

/** What a writer needs besides its session. */
export interface WriterDeps {
  sql: Sql;
  hashes: HashCache;
  log: Logger;
  /** Bytes between two fsync+commit checkpoints. */
  checkpointBytes: number;
  /** Each commit extends the session's life by this much. */
  sessionTtlSeconds: number;
  /** How far writing may lag behind receiving (memory stays bounded by it). */
  writeBehindBytes: number;
}

/** The session lock, as far as a writer needs it. */
export interface WriterLease {
  /** False once the lock may have been lost (its connection closed). */
  readonly valid: boolean;
}

/** Appends one request's messages to one locked session. */
export class SessionWriter {
  readonly #deps: WriterDeps;
  readonly #appender: BlobAppender;
  readonly #lease: WriterLease;
  readonly #writes: WriteBehind;
  readonly #hash: RunningSha256;
  /**
   * The hash as it was at the start, to go back to when the request is refused: its saved state
   * where the hasher saves one (kept with the offset), else a copy.
   */
  readonly #startState: Uint8Array | undefined;
  readonly #startHash: RunningSha256 | undefined;
  /** The committed offset when the request began: a refused request goes back here. */
  readonly start: number;
  #session: SessionRow;
  #written: number;
  #state: WriterState = "receiving";
  // A checkpoint in progress: receiving and writing go on while it fsyncs and stores the offset.
  // A failed one stays, to fail everything after it: a failed fsync may have lost the bytes since
  // the last good one, so nothing past that may ever be counted.
  #checkpointing: Promise<void> | undefined;
  /** What the checkpoint in #checkpointing failed with, once it has. */
  #checkpointFailure: { error: unknown } | undefined;
  /** Where the next checkpoint goes (see #checkpointAfter). */
  #nextCheckpoint: number;
  /** Whether the next message is the request's first. */
  #first = true;
  /**
   * The request's own checksum, when it came with one: then it is all or nothing, so no checkpoint
   * commits any of it before its end has been checked.
   */
  #checked: { checksum: RequestChecksum; hash: Hash } | undefined;

  /** A writer of `session` at its committed offset, whose content so far hashes to `hash`. */
  constructor(deps: WriterDeps, session: SessionRow, appender: BlobAppender, hash: RunningSha256, lease: WriterLease) {
    this.#deps = deps;
    this.#appender = appender;
    this.#lease = lease;
    this.#writes = new WriteBehind(appender, deps.writeBehindBytes);
    this.#hash = hash;
    this.#startState = hash.save();
    this.#startHash = this.#startState ? undefined : hash.copy();
    this.start = session.committedOffset;
    this.#session = session;
    this.#written = session.committedOffset;
    this.#nextCheckpoint = this.#checkpointAfter(session.committedOffset);
  }

  /** Where the writer is. */
  get state(): WriterState {
    return this.#state;
  }

  /** The session as last committed. */
  get session(): SessionRow {
    return this.#session;
  }

  /** The running hash of everything received (for completion, once all is committed). */
  get hash(): RunningSha256 {
    return this.#hash;
  }

  /**
   * Takes one message: refuses the whole request if the message is wrong (throwing the client's
   * error), else writes its data behind and starts a checkpoint when one is due.
   */
  async append(message: UploadContentRequest): Promise<void> {
    this.#expect("receiving");
    const refusal = this.#check(message);
    if (refusal) {
      await this.#refuse();
      throw refusal;
    }
    if (this.#first && message.checksum)
      this.#checked = { checksum: message.checksum, hash: createHash(message.checksum.algorithm) };
    this.#first = false;
    await this.#guard(async () => {
      for (let data = message.data; data.byteLength > 0; ) {
        this.#checkLease();
        // Cut where the next checkpoint goes, so that it commits exactly there.
        const room = this.#nextCheckpoint - this.#written;
        const piece = room > 0 && room < data.byteLength ? data.subarray(0, room) : data;
        const pending = this.#writes.write(piece);
        this.#hash.update(piece);
        this.#checked?.hash.update(piece);
        this.#written += piece.byteLength;
        await pending;
        await this.#checkpoint();
        data = data.subarray(piece.byteLength);
      }
    });
  }

  /**
   * The request ended: commits everything written — unless the request's content does not match
   * its checksum, which refuses it whole (throwing the client's error).
   */
  async finish(): Promise<SessionRow> {
    this.#expect("receiving");
    if (this.#checked) {
      const { checksum, hash } = this.#checked;
      if (!hash.digest().equals(checksum.digest)) {
        await this.#refuse();
        throw requestChecksumMismatch(checksum.algorithm, this.start);
      }
    }
    await this.#guard(() => this.#commit());
    this.#state = "finished";
    // Kept for the next request (a completion deferred to it too); completing drops it.
    this.#deps.hashes.put(this.#session.id, { hash: this.#hash, offset: this.#written });
    return this.#session;
  }

  /**
   * The client went away: commits what arrived, so the upload resumes from there (best effort). A
   * request with a checksum keeps nothing instead: what arrived cannot be checked.
   */
  async interrupt(): Promise<void> {
    if (this.#state !== "receiving") return;
    if (this.#checked) {
      await this.#refuse().catch((err: unknown) => {
        this.#deps.log.warn("could not undo an interrupted upload request", { uploadId: this.#session.id, err: err });
      });
      return;
    }
    this.#state = "interrupted";
    try {
      await this.#commit();
      this.#deps.hashes.put(this.#session.id, { hash: this.#hash, offset: this.#written });
    } catch (err) {
      this.#deps.hashes.drop(this.#session.id);
      this.#deps.log.warn("could not commit an interrupted upload", { uploadId: this.#session.id, err: err });
    }
  }

  /** Waits until no write or fsync runs on the appender any more (before it closes). */
  async settled(): Promise<void> {
    await this.#checkpointing?.catch(() => undefined);
    await this.#writes.settled();
  }

  /** Runs a step of receiving; a failure ends the writer (lost-lock or failed) and is thrown. */
  async #guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (this.#state === "receiving") this.#state = this.#lease.valid ? "failed" : "lost-lock";
      // The hash has seen bytes that will be cut off.
      this.#deps.hashes.drop(this.#session.id);
      throw err;
    }
  }

  #expect(state: WriterState): void {
    if (this.#state !== state) throw new Error(`upload writer is ${this.#state}, not ${state}`);
  }

  /** The refusal a message earns, if any. */
  #check(message: UploadContentRequest): Error | undefined {
    const id = this.#session.id;
    if (message.uploadId !== "" && message.uploadId !== id) return uploadIdChanged(id, message.uploadId);
    if (message.checksum) {
      if (!this.#first) return new ConnectError("a request's checksum goes on its first message", Code.InvalidArgument);
      const { algorithm, digest } = message.checksum;
      const length = Object.hasOwn(checksumLengths, algorithm) ? checksumLengths[algorithm] : undefined;
      if (length === undefined)
        return new ConnectError(
          `checksum algorithm ${JSON.stringify(algorithm)} is not supported: use ${Object.keys(checksumLengths).join(", ")}`,
          Code.InvalidArgument,
        );
      if (digest.byteLength !== length)
        return new ConnectError(
          `a ${algorithm} checksum has ${length} bytes, not ${digest.byteLength}`,
          Code.InvalidArgument,
        );
    }
    if (message.offset !== undefined && message.offset !== BigInt(this.#written))
      return offsetMismatch(message.offset, this.#written, this.start);
    if (this.#written + message.data.byteLength > this.#session.size)
      return pastDeclaredSize(this.#session.size, this.start);
    return undefined;
  }

  #checkLease(): void {
    if (!this.#lease.valid) throw lockLost(this.#session.id, this.#session.committedOffset);
  }

  /**
   * Makes the first `target` bytes durable, then compare-and-sets the offset to `target`: the only
   * way an offset ever moves forward. By default the target is what is written now, and the hash
   * state is the hash's now (it has seen exactly those bytes). Writes started later are not
   * counted (the sync may well make them durable too; the next commit counts them).
   */
  async #commit(at: CommitPoint = { target: this.#written, hashState: this.#hash.save() ?? null }): Promise<void> {
    await this.#checkpointing;
    const { target, hashState } = at;
    if (target <= this.#session.committedOffset) return;
    const attributes = { "files.upload_id": this.#session.id, "files.upload.offset": target };
    await inSpan("upload.checkpoint", attributes, () => this.#commitTo(target, hashState));
  }

  /** {@link #commit}'s steps, in its span. */
  async #commitTo(target: number, hashState: Uint8Array | null): Promise<void> {
    this.#checkLease();
    await this.#writes.drain(); // every write started before (those up to target among them)
    await this.#appender.sync(target);
    this.#checkLease(); // lost while syncing: the compare-and-set below must not be a stale writer's
    const { sql, sessionTtlSeconds } = this.#deps;
    const { id, writerEpoch, committedOffset } = this.#session;
    const moved = await moveOffset(sql, id, writerEpoch, committedOffset, target, sessionTtlSeconds, hashState);
    if (!moved) throw await this.#whyNotMoved();
    this.#session = moved;
  }

  /**
   * Why the offset did not move: another request claimed the session (this writer's lock went
   * with its connection before it noticed), or the session ended under the upload.
   */
  async #whyNotMoved(): Promise<ConnectError> {
    const now = await findSession(this.#deps.sql, this.#session.id);
    if (now && now.completedAt === null && now.writerEpoch !== this.#session.writerEpoch) {
      return lockLost(this.#session.id, now.committedOffset);
    }
    return sessionEndedDuringUpload(this.#session.id);
  }

  /**
   * The first offset a checkpoint's worth past `offset` at which the appender syncs cheaply: any
   * for a file, a part boundary for an object store (no tail object to write) — unless checkpoints
   * were asked for more often than parts come, which then cost a tail each.
   */
  #checkpointAfter(offset: number): number {
    const { checkpointBytes } = this.#deps;
    const alignment = this.#appender.checkpointAlignment ?? 1;
    const step = checkpointBytes >= alignment ? alignment : 1;
    return Math.ceil((offset + checkpointBytes) / step) * step;
  }

  /**
   * Starts a commit in the background once writing reaches the next checkpoint (one at a time).
   * While one runs, receiving goes on: a checkpoint due meanwhile is skipped for the next one, and
   * only a writer a few checkpoints ahead of the disk waits (an fsync stalled every upload for its
   * duration otherwise).
   */
  async #checkpoint(): Promise<void> {
    if (this.#written < this.#nextCheckpoint) return;
    if (this.#checked) return this.#keepAlive();
    const at: CommitPoint = { target: this.#written, hashState: this.#hash.save() ?? null };
    this.#nextCheckpoint = this.#checkpointAfter(this.#written);
    if (this.#checkpointing) {
      // A failed one fails this append at once; a running one is waited for only when far behind.
      if (this.#checkpointFailure) throw this.#checkpointFailure.error;
      if (this.#written - this.#session.committedOffset < checkpointsAhead * this.#deps.checkpointBytes) return;
      await this.#checkpointing;
    }
    const running = this.#commit(at);
    this.#checkpointing = running;
    running.then(
      () => {
        if (this.#checkpointing === running) this.#checkpointing = undefined;
      },
      (error: unknown) => {
        this.#checkpointFailure ??= { error };
      },
    );
  }

  /**
   * A checkpoint of a request with a checksum: nothing of it may count before its end is checked,
   * but the session must not expire under a long request, so its life is extended at the offset it
   * has (and with the hash state saved there).
   */
  async #keepAlive(): Promise<void> {
    this.#nextCheckpoint = this.#checkpointAfter(this.#written);
    this.#checkLease();
    const { sql, sessionTtlSeconds } = this.#deps;
    const { id, writerEpoch, committedOffset, hashState } = this.#session;
    const kept = await moveOffset(sql, id, writerEpoch, committedOffset, committedOffset, sessionTtlSeconds, hashState);
    if (!kept) throw await this.#whyNotMoved();
    this.#session = kept;
  }

  /**
   * Refuses the request whole: the offset goes back to where the request began, then its bytes are
   * cut off. The offset goes first because it alone says what counts: bytes past it are cut off by
   * the next request anyway, so a disk that cannot truncate still keeps nothing of the request,
   * and the content is never shorter than the committed offset, not even for a moment. A writer
   * that lost its lock touches neither: the session may be another writer's by now.
   */
  async #refuse(): Promise<void> {
    this.#state = "refused";
    await this.settled();
    this.#written = this.start;
    const { sql, hashes, log, sessionTtlSeconds } = this.#deps;
    const id = this.#session.id;
    if (!this.#lease.valid) {
      hashes.drop(id);
      return;
    }
    if (this.#session.committedOffset !== this.start) {
      const { writerEpoch, committedOffset } = this.#session;
      const moved = await moveOffset(
        sql,
        id,
        writerEpoch,
        committedOffset,
        this.start,
        sessionTtlSeconds,
        this.#startState ?? null,
      );
      // Someone else moved the offset: the content is theirs now, leave it be.
      if (!moved) return;
      this.#session = moved;
    }
    if (!this.#lease.valid) return;
    if (this.#startHash) hashes.put(id, { hash: this.#startHash, offset: this.start });
    else hashes.drop(id); // the next request resumes from the state saved with the offset
    await this.#appender.truncate(this.start).catch((err: unknown) => {
      log.warn("could not cut off a refused request's bytes; the next request will", { uploadId: id, err: err });
    });
  }
}
