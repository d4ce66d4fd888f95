/**
 * The consistency check of metadata against content: file rows whose blob is missing, has the
 * wrong size or the wrong SHA-256 (hashed as a stream), sessions whose partial content is shorter
 * than their committed offset, and content no row refers to. It only reads; see repair.ts.
 *
 * It may run beside live servers. Every suspect is confirmed before it is reported: a file row is
 * read again (it may have been replaced or deleted meanwhile), a session is re-checked under its
 * session lock (one being written is skipped and counted as busy), and content is listed before
 * the database is asked about it, so that new content is never an orphan. Content the database
 * has let go of but not yet removed (content_removals) is noted, not reported as an orphan: the
 * sweep removes it.
 */
import { createHash } from "node:crypto";
import { BlobMissingError, inBatches, type BlobStore } from "../store/blobs/blob-store.js";
import { contentFaults } from "../store/postgres/content-faults.js";
import { removalCandidates } from "../store/postgres/content-removals.js";
import type { Sql } from "../store/postgres/database.js";
import { allFiles, findFile, unreferencedBlobIds, type FileRow } from "../store/postgres/file-rows.js";
import type { SessionLocks } from "../store/postgres/session-locks.js";
import {
  findSession,
  idsWithoutOpenSession,
  openSessions,
  type SessionRow,
} from "../store/postgres/upload-sessions.js";

/** Damage or orphaned content: `fsck` exits 1 when it finds any. */
export type ProblemKind =
  | "missing-blob"
  | "blob-size"
  | "blob-sha256"
  | "short-partial"
  | "orphan-blob"
  | "orphan-partial";
/**
 * Not damage: bytes past a session's committed offset (cut off by its next request); content let go
 * of and waiting for the sweep; a fault a server recorded while serving a file (the file's own
 * check above says whether it is still there).
 */
export type NoteKind = "long-partial" | "pending-removal" | "reported-fault";

/** One thing the check found. */
export interface Finding {
  kind: ProblemKind | NoteKind;
  severity: "problem" | "note";
  /** The blob id, or the upload session id for partial content. */
  id: string;
  /** The file it concerns, if any. */
  file?: { bucket: string; key: string };
  /** What is wrong, for people. */
  detail: string;
  /** True when --repair may fix it (orphans, long partials); the rest needs an operator. */
  repairable: boolean;
  /** What the repair did or why it left it ("removed", "truncated to 5 bytes", "left: in use"). */
  repair?: string;
}

/** What a check looked at and found. */
export interface ConsistencyReport {
  checked: { files: number; sessions: number; blobs: number; partials: number; bytesHashed: number };
  /** Sessions being written while the check ran, so not checked. */
  busySessions: number;
  findings: Finding[];
}

/** What the check reads. `locks` must be on the service's database, so that writers exclude it. */
export interface ConsistencyDeps {
  sql: Sql;
  blobs: BlobStore;
  locks: SessionLocks;
}

/** Options of {@link checkConsistency}. */
export interface CheckOptions {
  /** Hash every blob and compare with its row (default true; false checks sizes only). */
  hash?: boolean;
  /** Rows and ids read at a time (default 1000). */
  batchSize?: number;
}

/** Checks the whole store; answers every finding, problems and notes. */
export async function checkConsistency(deps: ConsistencyDeps, options: CheckOptions = {}): Promise<ConsistencyReport> {
  const report: ConsistencyReport = {
    checked: { files: 0, sessions: 0, blobs: 0, partials: 0, bytesHashed: 0 },
    busySessions: 0,
    findings: [],
  };
  const batch = options.batchSize ?? 1000;
  await checkFiles(deps, options.hash ?? true, batch, report);
  await checkSessions(deps, batch, report);
  await findOrphans(deps, batch, report);
  await listReportedFaults(deps, report);
  return report;
}

/** The findings that are problems (not notes). */
export function problemsOf(report: ConsistencyReport): Finding[] {
  return report.findings.filter((f) => f.severity === "problem");
}

async function checkFiles(
  { sql, blobs }: ConsistencyDeps,
  hash: boolean,
  batch: number,
  report: ConsistencyReport,
): Promise<void> {
  let after: FileRow | undefined;
  for (;;) {
    const rows = await allFiles(sql, after, batch);
    for (const row of rows) {
      report.checked.files++;
      const suspect = await inspectBlob(blobs, row, hash, report);
      // Replaced or deleted since we read it: its old blob may rightly be gone.
      if (suspect && (await findFile(sql, row.bucket, row.key))?.blobId === row.blobId) report.findings.push(suspect);
    }
    if (rows.length < batch) return;
    after = rows[rows.length - 1];
  }
}

/** What is wrong with a file's blob, if anything. */
async function inspectBlob(
  blobs: BlobStore,
  row: FileRow,
  hash: boolean,
  report: ConsistencyReport,
): Promise<Finding | undefined> {
  const problem = (kind: ProblemKind, detail: string): Finding => ({
    kind,
    severity: "problem",
    id: row.blobId,
    file: { bucket: row.bucket, key: row.key },
    detail,
    repairable: false,
  });
  const size = await blobs.size(row.blobId);
  if (size === undefined)
    return problem("missing-blob", `file ${row.bucket}/${row.key}: its blob ${row.blobId} is missing`);
  if (size !== row.bytes)
    return problem(
      "blob-size",
      `file ${row.bucket}/${row.key}: blob ${row.blobId} has ${size} bytes, the row says ${row.bytes}`,
    );
  if (!hash) return undefined;
  const digest = createHash("sha256");
  try {
    for await (const chunk of blobs.read(row.blobId, 0, row.bytes)) digest.update(chunk);
  } catch (err) {
    if (err instanceof BlobMissingError)
      return problem("missing-blob", `file ${row.bucket}/${row.key}: its blob ${row.blobId} is missing`);
    throw err;
  }
  report.checked.bytesHashed += row.bytes;
  const actual = digest.digest();
  if (actual.equals(row.sha256)) return undefined;
  return problem(
    "blob-sha256",
    `file ${row.bucket}/${row.key}: blob ${row.blobId} has sha256 ${actual.toString("hex")}, the row says ${row.sha256.toString("hex")}`,
  );
}

async function checkSessions(
  { sql, blobs, locks }: ConsistencyDeps,
  batch: number,
  report: ConsistencyReport,
): Promise<void> {
  let afterId = "";
  for (;;) {
    const rows = await openSessions(sql, afterId, batch);
    for (const row of rows) {
      report.checked.sessions++;
      if (((await blobs.partialSize(row.id)) ?? 0) === row.committedOffset) continue;
      // A writer may be between a write and its commit: look again while it cannot be.
      const lease = await locks.tryAcquire(row.id);
      if (!lease) {
        report.busySessions++;
        continue;
      }
      try {
        const now = await findSession(sql, row.id);
        const size = now && (await blobs.partialSize(row.id));
        if (now) inspectPartial(now, size, report);
      } finally {
        await lease.release();
      }
    }
    if (rows.length < batch) return;
    afterId = rows[rows.length - 1].id;
  }
}

function inspectPartial(session: SessionRow, size: number | undefined, report: ConsistencyReport): void {
  const offset = session.committedOffset;
  const what = `upload session ${session.id} (${session.bucket}/${session.key})`;
  if ((size ?? 0) < offset) {
    report.findings.push({
      kind: "short-partial",
      severity: "problem",
      id: session.id,
      file: { bucket: session.bucket, key: session.key },
      detail: `${what}: committed offset ${offset}, but its partial content ${size === undefined ? "is missing" : `has only ${size} bytes`}`,
      repairable: false,
    });
  } else if (size !== undefined && size > offset) {
    report.findings.push({
      kind: "long-partial",
      severity: "note",
      id: session.id,
      file: { bucket: session.bucket, key: session.key },
      detail: `${what}: ${size - offset} bytes past the committed offset ${offset} (left by a crash or a failed request)`,
      repairable: true,
    });
  }
}

/** One kind of content to look for orphans of: how to list it, and what refers to it. */
interface ContentKind {
  kind: "orphan-partial" | "orphan-blob";
  /** How a finding names one. */
  noun: string;
  /** Who would refer to it, for the finding's detail. */
  referrers: string;
  list: () => AsyncIterable<string>;
  size: (id: string) => Promise<number | undefined>;
  /** Of the given ids, those nothing refers to (one snapshot). */
  unreferenced: (ids: readonly string[]) => Promise<string[]>;
  counter: "partials" | "blobs";
}

async function findOrphans({ sql, blobs }: ConsistencyDeps, batch: number, report: ConsistencyReport): Promise<void> {
  const kinds: ContentKind[] = [
    {
      kind: "orphan-partial",
      noun: "partial content",
      referrers: "no upload session",
      list: () => blobs.listPartials(),
      size: (id) => blobs.partialSize(id),
      unreferenced: (ids) => idsWithoutOpenSession(sql, ids),
      counter: "partials",
    },
    {
      kind: "orphan-blob",
      noun: "blob",
      referrers: "no file or upload session",
      list: () => blobs.listBlobs(),
      size: (id) => blobs.size(id),
      unreferenced: (ids) => unreferencedBlobIds(sql, ids),
      counter: "blobs",
    },
  ];
  for (const content of kinds) {
    // Listed first, then the database asked: content created after the listing is not considered.
    for await (const ids of inBatches(content.list(), batch)) {
      report.checked[content.counter] += ids.length;
      const unreferenced = await content.unreferenced(ids);
      // Asked after the references: what a completion or cancel lets go of meanwhile is pending, not an orphan.
      const pending = await pendingOf(sql, unreferenced);
      for (const id of unreferenced) {
        const size = await content.size(id);
        if (size === undefined) continue; // removed since the listing
        const what = `${content.noun} ${id} (${size} bytes)`;
        if (pending.has(id)) report.findings.push(pendingRemoval(id, what));
        else
          report.findings.push({
            kind: content.kind,
            severity: "problem",
            id,
            detail: `${what}: ${content.referrers} refers to it`,
            repairable: true,
          });
      }
    }
  }
}

async function pendingOf(sql: Sql, ids: readonly string[]): Promise<Set<string>> {
  return new Set((await removalCandidates(sql, ids)).map((c) => c.id));
}

function pendingRemoval(id: string, what: string): Finding {
  return {
    kind: "pending-removal",
    severity: "note",
    id,
    detail: `${what}: let go of, waiting for the sweep to remove it`,
    repairable: true,
  };
}

async function listReportedFaults({ sql }: ConsistencyDeps, report: ConsistencyReport): Promise<void> {
  for (const fault of await contentFaults(sql)) {
    report.findings.push({
      kind: "reported-fault",
      severity: "note",
      id: fault.blobId,
      file: { bucket: fault.bucket, key: fault.key },
      detail: `a server found file ${fault.bucket}/${fault.key}'s ${fault.problem} (${fault.times} times, last ${fault.lastSeen.toISOString()})`,
      repairable: true,
    });
  }
}
