/**
 * `npm run load`'s bursts: many CreateUploadSession calls sent at the same moment, and the gRPC
 * client the load drives the service with.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FilesService } from "../gen/files/v1/files_pb.js";
import { percentiles, type Percentiles } from "./percentiles.js";

/** A gRPC client of the service at `port`, on a connection of its own. */
export function grpcClient(port: number) {
  // A Node HTTP/2 client counts the upload data it has queued but not yet sent against its
  // session's memory (maxSessionMemory, 10 MB by default); over it, nghttp2 refuses the next
  // response headers it receives and resets that call with ENHANCE_YOUR_CALM. A hundred uploads of
  // 256 KiB messages on one connection queue more than 10 MB: one run in five lost a call that way.
  // (With a 1 MB limit every run did; with 256 MB none of eight.) Any client of ours that
  // multiplexes many uploads on one connection needs the same.
  return createClient(
    FilesService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, nodeOptions: { maxSessionMemory: 256 } }),
  );
}

/** CreateUploadSession calls all sent at the same moment, as this client saw them. */
export interface Burst {
  /** Whom the calls went to. */
  target: string;
  latencies: Percentiles;
}

/**
 * Sends `size` CreateUploadSession calls at once, on one connection, to the server at `port`:
 * once to warm up, then `rounds` times measured. Sessions it opened on the service are cancelled.
 *
 * Run against the service with nothing else going on, and against a connect-node handler that
 * answers without a database (bench/constant-files-server.ts), this bounds what any p99 under the
 * load can be: calls that arrive together are served one after another by one thread, so the last
 * of a burst waits for all the others, however fast each is.
 */
export async function measureBurst(target: string, port: number, size: number, rounds = 3): Promise<Burst> {
  const files = grpcClient(port);
  const samples: number[] = [];
  const opened: string[] = [];
  for (let round = 0; round <= rounds; round++) {
    await Promise.all(
      Array.from({ length: size }, async (_, i) => {
        const started = performance.now();
        const { session } = await files.createUploadSession({ bucket: "load", key: `burst/${round}/${i}`, size: 1n });
        if (round > 0) samples.push(performance.now() - started);
        opened.push(session!.id);
      }),
    );
  }
  for (const uploadId of opened) await files.cancelUploadSession({ uploadId }).catch(() => undefined);
  return { target, latencies: percentiles(samples) };
}

/** The bursts' lines for the report. */
export function formatBursts(size: number, bursts: Burst[]): string {
  return [
    `${size} CreateUploadSession calls sent at once, nothing else running (three rounds after a warm-up):`,
    "| served by | p50 ms | p99 ms | max ms |",
    "|---|---:|---:|---:|",
    ...bursts.map(({ target, latencies: l }) => `| ${target} | ${l.p50} | ${l.p99} | ${l.max} |`),
  ].join("\n");
}
