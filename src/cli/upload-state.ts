/**
 * What lets `files upload` resume after Ctrl-C or a cut network when the same command runs again: a
 * small JSON file that maps each upload in progress to its session id. An entry is keyed by the
 * server URL, bucket/key, the local file's absolute path, size, modification time, and its inode
 * and change time, so that a file changed since starts a new session instead of resuming into the
 * old one — even one rewritten at the same size with its mtime kept (`cp -p`, `rsync -t`, `tar x`
 * set mtime; nothing can set ctime, and a rewrite by rename is another inode). An entry is written as soon as its session exists and removed when the upload completes or
 * its session is found gone (expired, cancelled).
 *
 * The file lives in $XDG_STATE_HOME/files-cli/uploads.json (default ~/.local/state/files-cli/). It
 * is replaced whole by a rename, so a reader never sees half of it; writes within one process are
 * queued, and runs side by side re-read it before each change.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

/** What identifies one upload of one local file. */
export interface UploadIdentity {
  url: string;
  bucket: string;
  key: string;
  /** Absolute path of the local file. */
  file: string;
  size: number;
  mtimeMs: number;
  /** Change time, device and inode: what no copying tool can carry over from another file. */
  ctimeMs: number;
  dev: number;
  ino: number;
}

interface Entry {
  uploadId: string;
  bucket: string;
  key: string;
  file: string;
  savedAt: string;
}

// Sessions expire after a day by default: an entry this old is of no use to anyone.
const staleAfterMs = 30 * 24 * 3600 * 1000;

/** The upload sessions this machine's runs left to resume. */
export interface UploadState {
  /** The state file. */
  readonly file: string;
  /** The session of an unfinished upload of this file, if one was recorded. */
  find(upload: UploadIdentity): Promise<string | undefined>;
  remember(upload: UploadIdentity, uploadId: string): Promise<void>;
  forget(upload: UploadIdentity): Promise<void>;
}

/** The directory of the state file: $XDG_STATE_HOME/files-cli, or ~/.local/state/files-cli. */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || path.join(homedir(), ".local", "state");
  return path.join(base, "files-cli");
}

/** Opens (lazily) the state file in `directory`. */
export function openUploadState(directory = stateDirectory()): UploadState {
  const file = path.join(directory, "uploads.json");
  let queue: Promise<unknown> = Promise.resolve();

  async function load(): Promise<Record<string, Entry>> {
    try {
      return JSON.parse(await readFile(file, "utf8")) as Record<string, Entry>;
    } catch (err) {
      // No file yet; or a damaged one, which only costs the resumption of what it held.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || err instanceof SyntaxError) return {};
      throw err;
    }
  }

  function change(edit: (entries: Record<string, Entry>) => void): Promise<void> {
    const next = queue.then(async () => {
      const entries = await load();
      edit(entries);
      const now = Date.now();
      for (const [id, entry] of Object.entries(entries)) {
        if (now - Date.parse(entry.savedAt) > staleAfterMs) delete entries[id];
      }
      await mkdir(directory, { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(entries, null, 2)}\n`);
      await rename(temporary, file);
    });
    queue = next.catch(() => {});
    return next;
  }

  return {
    file,
    async find(upload) {
      return (await load())[identity(upload)]?.uploadId;
    },
    remember(upload, uploadId) {
      return change((entries) => {
        const { bucket, key, file } = upload;
        entries[identity(upload)] = { uploadId, bucket, key, file, savedAt: new Date().toISOString() };
      });
    },
    forget(upload) {
      return change((entries) => {
        delete entries[identity(upload)];
      });
    },
  };
}

function identity(upload: UploadIdentity): string {
  const { bucket, key, file, size, mtimeMs, ctimeMs, dev, ino } = upload;
  const fields = [upload.url.replace(/\/+$/, ""), bucket, key, file, size, mtimeMs, ctimeMs, dev, ino];
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex").slice(0, 32);
}
