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
import type { ConnectError } from "@connectrpc/connect";
import type { UploadContentRequest } from "../../../gen/files/v1/files_pb.js";
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
import { CheckpointSchedule } from "./checkpoint-schedule.js";
import { CheckedContent, checksumProblem } from "./request-checksum.js";
import { WriteBehind } from "./write-behind.js";
import { inSpan } from "../../observability/tracing.js";

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
  /** When checkpoints fall, and the one running while receiving goes on. */
  readonly #checkpoints: CheckpointSchedule;
  /** Whether the next message is the request's first. */
  #first = true;
  /**
   * The request's own checksum, when it came with one: then it is all or nothing, so no checkpoint
   * commits any of it before its end has been checked.
   */
  #checked: CheckedContent | undefined;

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
    this.#checkpoints = new CheckpointSchedule(
      deps.checkpointBytes,
      appender.checkpointAlignment ?? 1,
      session.committedOffset,
    );
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
    if (message.checksum) this.#checked = new CheckedContent(message.checksum);
    this.#first = false;
    await this.#guard(async () => {
      for (let data = message.data; data.byteLength > 0; ) {
        this.#checkLease();
        // Cut where the next checkpoint goes, so that it commits exactly there.
        const room = this.#checkpoints.room(this.#written);
        const piece = room > 0 && room < data.byteLength ? data.subarray(0, room) : data;
        const pending = this.#writes.write(piece);
        this.#hash.update(piece);
        this.#checked?.update(piece);
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
    if (this.#checked && !this.#checked.matches()) {
      await this.#refuse();
      throw requestChecksumMismatch(this.#checked.checksum.algorithm, this.start);
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
    await this.#checkpoints.running?.catch(() => undefined);
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
    const checksumRefusal = message.checksum && checksumProblem(message.checksum, this.#first);
    if (checksumRefusal) return checksumRefusal;
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
    await this.#checkpoints.running;
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
    if (!(await this.#moveOffset(target, hashState))) throw await this.#whyNotMoved();
  }

  /**
   * Compare-and-sets the offset from the committed one to `target`, with `hashState` kept there
   * and the session's life extended; answers whether it moved (then the session is the new one).
   */
  async #moveOffset(target: number, hashState: Uint8Array | null): Promise<boolean> {
    const { sql, sessionTtlSeconds } = this.#deps;
    const { id, writerEpoch, committedOffset } = this.#session;
    const moved = await moveOffset(sql, id, writerEpoch, committedOffset, target, sessionTtlSeconds, hashState);
    if (moved) this.#session = moved;
    return moved !== undefined;
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

  /** Once writing reaches the next checkpoint: a commit of what is written now, in the background. */
  async #checkpoint(): Promise<void> {
    if (!this.#checkpoints.take(this.#written)) return;
    if (this.#checked) return this.#keepAlive();
    const at: CommitPoint = { target: this.#written, hashState: this.#hash.save() ?? null };
    await this.#checkpoints.start(() => this.#commit(at), this.#written - this.#session.committedOffset);
  }

  /**
   * A checkpoint of a request with a checksum: nothing of it may count before its end is checked,
   * but the session must not expire under a long request, so its life is extended at the offset it
   * has (and with the hash state saved there).
   */
  async #keepAlive(): Promise<void> {
    this.#checkLease();
    const { committedOffset, hashState } = this.#session;
    if (!(await this.#moveOffset(committedOffset, hashState))) throw await this.#whyNotMoved();
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
    const { hashes, log } = this.#deps;
    const id = this.#session.id;
    if (!this.#lease.valid) {
      hashes.drop(id);
      return;
    }
    // Someone else moved the offset meanwhile: the content is theirs now, leave it be.
    if (this.#session.committedOffset !== this.start && !(await this.#moveOffset(this.start, this.#startState ?? null)))
      return;
    if (!this.#lease.valid) return;
    if (this.#startHash) hashes.put(id, { hash: this.#startHash, offset: this.start });
    else hashes.drop(id); // the next request resumes from the state saved with the offset
    await this.#appender.truncate(this.start).catch((err: unknown) => {
      log.warn("could not cut off a refused request's bytes; the next request will", { uploadId: id, err: err });
    });
  }
}
