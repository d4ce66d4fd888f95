/**
 * Which files a process holds open under a blob directory, read from /proc (Linux): what tests
 * check to see that a download cut off has closed its file, and that a deleted file's space is
 * really free — its inode is gone once no descriptor holds it.
 */
import { readdir, readlink, stat } from "node:fs/promises";
import path from "node:path";

/** The open descriptors of process `pid` (default this one) on committed content under `blobDir`. */
export async function openBlobFiles(
  blobDir: string,
  pid: number | "self" = "self",
): Promise<{ count: number; inodes: Set<number> }> {
  const blobs = path.join(blobDir, "blobs") + path.sep;
  const inodes = new Set<number>();
  let count = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = `/proc/${pid}/fd/${fd}`;
    // A descriptor may close between the listing and the look: then it is not open.
    const target = await readlink(link).catch(() => "");
    if (!target.startsWith(blobs)) continue; // a deleted file reads "<path> (deleted)": still under blobs/
    const info = await stat(link).catch(() => undefined);
    if (!info) continue;
    count++;
    inodes.add(info.ino);
  }
  return { count, inodes };
}

/** The path and inode of every committed blob under `blobDir`. */
export async function committedBlobs(blobDir: string): Promise<{ file: string; ino: number }[]> {
  const found: { file: string; ino: number }[] = [];
  const root = path.join(blobDir, "blobs");
  for (const fanout of await readdir(root)) {
    for (const name of await readdir(path.join(root, fanout))) {
      const file = path.join(root, fanout, name);
      found.push({ file, ino: (await stat(file)).ino });
    }
  }
  return found;
}
