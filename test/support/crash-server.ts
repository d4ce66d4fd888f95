/**
 * The server as src/main.ts starts it, but on a blob store that SIGKILLs the process at one chosen
 * point, for tests that must crash it exactly there: CRASH_POINT=<op>:<stage>:<skip>, e.g.
 * "sync:after:40" dies right after the 41st successful fsync (before its offset is committed),
 * "write:partial:100" halfway through a chunk, "commit:after:2" with the third completion's blob
 * linked but its row not yet written. Without CRASH_POINT it is the plain server. The store is the
 * one the settings choose (BLOB_STORE), so the same points crash an S3 store's steps too.
 */
import { startApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { openContentStore } from "../../src/store/blobs/content-store.js";
import { createFaultyBlobStore, type FaultOp } from "./faulty-blob-store.js";

const config = loadConfig();
const log = createLogger();
const disk = createFaultyBlobStore(await openContentStore(config), config.blobDir);
const point = process.env.CRASH_POINT;
if (point) {
  const [op, stage, skip] = point.split(":");
  disk.inject({
    op: op as FaultOp,
    stage: stage as "before" | "after" | "partial",
    skip: Number(skip),
    times: 1,
    effect() {
      // Synchronous write: the line must be out before the process is.
      log.info("crash point reached", { point });
      process.kill(process.pid, "SIGKILL");
    },
  });
}
const app = await startApp(config, log, { blobs: disk.store });
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
