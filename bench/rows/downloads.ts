/**
 * Download rows: each fresh server first stores the content (untimed: through the service for the
 * service rows, a POST for the baseline), then the download is timed from the request to the last
 * byte, every byte compared with the content as it arrives. The file was just written, so every
 * row reads it from the page cache alike.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { FilesService } from "../../gen/files/v1/files_pb.js";
import type { BenchContent } from "../content.js";
import { receiveContent, sendContent, type Answer } from "../http-client.js";
import { startHelper, type ServerProcess } from "../processes.js";
import { measureBytes, withServer, type BenchRow, type Measurement } from "./row.js";
import { benchBucket, storeFile } from "./service-calls.js";

const key = "download.bin";

/** Times `download` (which receives `bytes` and checks them) on a started server, observing what the server uses meanwhile. */
function measureDownload(server: ServerProcess, bytes: number, download: () => Promise<void>): Promise<Measurement> {
  return measureBytes(server.pid, bytes, download);
}

/** Throws unless the REST download's ETag is the content's sha256. */
export function checkEtag(answer: Answer, content: BenchContent): void {
  if (answer.headers.etag !== `"${content.sha256}"`)
    throw new Error(`ETag ${answer.headers.etag}, expected the sha256 "${content.sha256}"`);
}

const baseline: BenchRow = {
  id: "download/baseline",
  group: "download",
  label: "download: baseline (http ← fs.createReadStream)",
  baseline: true,
  async run({ dir, content }) {
    const store = path.join(dir, "baseline-downloads");
    await mkdir(store, { recursive: true });
    return withServer(startHelper("baseline-server", store), async (server) => {
      const stored = await sendContent(`${server.baseUrl}/`, "POST", {}, content);
      if (stored.status !== 200) throw new Error(`baseline answered ${stored.status}: ${stored.text}`);
      const { name } = JSON.parse(stored.text) as { name: string };
      return measureDownload(server, content.size, async () => {
        await receiveContent(`${server.baseUrl}/${name}`, {}, content.verifier());
      });
    });
  },
};

const rest: BenchRow = {
  id: "download/rest",
  group: "download",
  label: "download: REST GET …:content (HTTP/1.1)",
  baseline: false,
  run: ({ content, startService }) =>
    withServer(startService(), async (server) => {
      await storeFile(server, key, content);
      return measureDownload(server, content.size, async () => {
        const answer = await receiveContent(
          `${server.baseUrl}/v1/files/${benchBucket}/${key}:content`,
          {},
          content.verifier(),
        );
        checkEtag(answer, content);
      });
    }),
};

const grpc: BenchRow = {
  id: "download/grpc",
  group: "download",
  label: "download: gRPC DownloadFile stream (HTTP/2)",
  baseline: false,
  run: ({ content, startService }) =>
    withServer(startService(), async (server) => {
      await storeFile(server, key, content);
      const files = createClient(FilesService, createGrpcTransport({ baseUrl: server.baseUrl }));
      return measureDownload(server, content.size, async () => {
        const verifier = content.verifier();
        for await (const { part } of files.downloadFile({ bucket: benchBucket, key })) {
          if (part.case === "data") verifier.update(part.value);
          else if (part.case === "info" && part.value.sha256 !== content.sha256)
            throw new Error(`DownloadFile's info says sha256 ${part.value.sha256}, expected ${content.sha256}`);
        }
        verifier.finish();
      });
    }),
};

const range: BenchRow = {
  id: "download/rest-range",
  group: "download",
  label: "download: REST Range bytes=1- (HTTP/1.1)",
  baseline: false,
  run: ({ content, startService }) =>
    withServer(startService(), async (server) => {
      await storeFile(server, key, content);
      return measureDownload(server, content.size - 1, async () => {
        const answer = await receiveContent(
          `${server.baseUrl}/v1/files/${benchBucket}/${key}:content`,
          { range: "bytes=1-" },
          content.verifier(1),
        );
        const expectedRange = `bytes 1-${content.size - 1}/${content.size}`;
        if (answer.status !== 206 || answer.headers["content-range"] !== expectedRange) {
          throw new Error(
            `Range answered ${answer.status} with Content-Range ${answer.headers["content-range"]}, expected 206 with ${expectedRange}`,
          );
        }
        checkEtag(answer, content);
      });
    }),
};

/** The download rows, baseline first. */
export const downloadRows: BenchRow[] = [baseline, rest, grpc, range];
