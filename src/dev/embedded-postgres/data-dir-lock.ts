/**
 * One server per embedded Postgres data directory. A server claims the directory by binding a
 * Linux abstract-namespace unix socket named after the directory's real path, and holds the claim
 * for as long as it lives. Why this lock:
 *
 * - the kernel releases the name the moment the process ends, however it ends (SIGKILL, the OOM
 *   killer, a crash), so no claim outlives its server and the next start needs no staleness guess;
 * - bind() is atomic: of two servers starting at once exactly one wins (a pid file, even one with
 *   the process start time beside the pid, has a window between reading it and writing it);
 * - it lives nowhere on disk: nothing to clean up, no permissions, no path length limit.
 *
 * Weighed and left: proper-lockfile (mkdir plus an mtime heartbeat: a killed server's lock is taken
 * over only once it looks stale, seconds later, and a paused server loses it), fs-ext and os-lock
 * (flock/fcntl, also released by the kernel, but native addons compiled at install time).
 *
 * Abstract sockets are Linux-only and belong to a network namespace: containers with network
 * namespaces of their own do not see each other's claims, so they must not share a data directory.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";

/** True where data directories can be claimed (Linux); elsewhere {@link claimDataDir} must not be called. */
export const canClaimDataDirs = process.platform === "linux";

/** A claim on a data directory, held until released or until the process ends. */
export interface DataDirClaim {
  /** Gives the directory up; safe to call more than once. */
  release(): Promise<void>;
}

/** The directory is claimed by another live process. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    /** The holder's pid, when it answered in time. */
    readonly holderPid: number | undefined,
  ) {
    super(
      `${dataDir} is in use by another server (${holderPid === undefined ? "its pid did not answer" : `pid ${holderPid}`})`,
    );
    this.name = "DataDirInUseError";
  }
}

/**
 * Claims `dataDir` (an existing directory) for this process, or throws {@link DataDirInUseError}
 * naming the live process that holds it.
 */
export async function claimDataDir(dataDir: string): Promise<DataDirClaim> {
  const name = socketName(await fs.realpath(dataDir));
  // A holder that is exiting right now refuses our question and frees the name a moment later.
  for (let attempt = 1; ; attempt++) {
    const holder = net.createServer((socket) => socket.end(`${process.pid}\n`));
    const bound = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      holder.once("error", resolve);
      holder.listen({ path: name }, () => resolve(undefined));
    });
    if (!bound) {
      holder.unref(); // the claim must not keep the process alive; it ends with it
      let released: Promise<void> | undefined;
      return { release: () => (released ??= new Promise((resolve) => holder.close(() => resolve()))) };
    }
    if (bound.code !== "EADDRINUSE") throw bound;
    const answer = await askHolderPid(name);
    if (answer !== "gone" || attempt === 3)
      throw new DataDirInUseError(dataDir, typeof answer === "number" ? answer : undefined);
  }
}

/** The abstract socket name (leading NUL) of a directory: fixed length, whatever the path. */
function socketName(realDir: string): string {
  return `\0files-service/embedded-postgres/${createHash("sha256").update(realDir).digest("hex")}`;
}

/** Asks the holder of `name` for its pid: "gone" when nobody holds it any more, "silent" when it did not answer. */
function askHolderPid(name: string, timeoutMs = 2_000): Promise<number | "gone" | "silent"> {
  return new Promise((resolve) => {
    let answer = "";
    const socket = net.connect({ path: name });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve("silent");
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => {
      const pid = Number.parseInt(answer, 10);
      resolve(pid > 0 ? pid : "silent");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED" ? "gone" : "silent"));
  });
}
