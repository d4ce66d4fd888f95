/**
 * The postmaster of the embedded cluster as a process: a leftover one, from a server that was
 * killed, found and stopped.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// The first line of postmaster.pid (Postgres's pidfile.h) is the pid.
const pidLine = 0;

/**
 * A postmaster.pid left in dataDir names a postmaster that has exited, or one still running. With
 * `stopRunning` (its server is known to be gone) a running one is an orphan of a killed server and
 * is stopped; without, it is left alone and its pid answered. The file is then removed: Postgres
 * would refuse to start if the pid in it belonged to another process of its user by now.
 */
export async function clearLeftoverPostmaster(dataDir: string, log: (line: string) => void, stopRunning: boolean): Promise<number | undefined> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const firstLine = await fs.readFile(pidFile, 'utf8').then((s) => s.split('\n')[pidLine], () => undefined);
  if (firstLine === undefined) return undefined;
  const pid = Number.parseInt(firstLine, 10);
  if (!stopRunning && pid > 0 && isAlive(pid)) return pid;
  if (pid > 0 && (await isPostgres(pid, dataDir))) {
    log(`stopping leftover postmaster (pid ${pid}) from an earlier run`);
    process.kill(pid, 'SIGINT'); // SIGINT = fast shutdown: aborts sessions, but checkpoints cleanly.
    for (let waited = 0; waited < 10_000 && isAlive(pid); waited += 100) await sleep(100);
    if (isAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      for (let waited = 0; waited < 2_000 && isAlive(pid); waited += 100) await sleep(100);
    }
  }
  await fs.rm(pidFile, { force: true });
  return undefined;
}

/** True while the process runs; an unreaped zombie (orphans under a non-reaping PID 1) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readFileOr(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

function readFileOr(file: string, fallback = ''): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** Only kill our own postmaster: the stale pid may have been reused, even by another cluster. */
async function isPostgres(pid: number, dataDir: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const isPg = readFileOr(`/proc/${pid}/comm`).trim() === 'postgres' ||
    readFileOr(`/proc/${pid}/cmdline`).split('\0')[0]?.endsWith('/postgres') === true;
  // The postmaster chdirs into its data directory.
  const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  return isPg && (cwd === undefined || cwd === (await fs.realpath(dataDir)));
}
