/**
 * The client library's front: a FilesService client over the protocol of your choice (gRPC,
 * Connect or gRPC-Web, HTTP/2 or HTTP/1.1) that sends an API key with every call, with the
 * resuming upload and download on top of it.
 */
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import http from "node:http";
import https from "node:https";
import { type File, FilesService } from "../../gen/files/v1/files_pb.js";
import { type DownloadOptions, downloadFile } from "./download-file.js";
import { type UploadOptions, uploadFile } from "./upload-file.js";
import type { UploadInput } from "./upload-source.js";

/** The wire protocols the service speaks. */
export type FilesProtocol = "grpc" | "connect" | "grpc-web";

/** Where the service is and how to talk to it. */
export interface FilesClientOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8321. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` on every call. */
  apiKey?: string;
  /** Default "grpc". */
  protocol?: FilesProtocol;
  /** "2" (default; cleartext HTTP/2 with prior knowledge on http: URLs) or "1.1". gRPC needs "2". */
  httpVersion?: "1.1" | "2";
  /** More interceptors, run after the one that adds the API key (logging, request ids, tests). */
  interceptors?: Interceptor[];
  /** Your own transport instead (protocol, httpVersion, apiKey and interceptors are then ignored). */
  transport?: Transport;
}

/** A FilesService client with uploads and downloads that resume. */
export interface FilesClient {
  /** The generated client, for every other call (listFiles, getFile, deleteFile, …). */
  readonly service: Client<typeof FilesService>;
  /** Uploads a path, a Node stream, a Blob or a web ReadableStream: see uploadFile. */
  uploadFile(source: UploadInput, options: UploadOptions): Promise<File>;
  /** Downloads a file to a path, resuming what a previous run left: see downloadFile. */
  downloadFile(file: { bucket: string; key: string }, destination: string, options?: DownloadOptions): Promise<File>;
  /**
   * Closes the client's connections (calls still running fail). A client left open keeps an idle
   * connection until the server closes it; close one you are done with in a process that goes on.
   */
  close(): void;
}

/** A client for the service at `options.baseUrl`. */
export function createFilesClient(options: FilesClientOptions): FilesClient {
  const connections = options.transport ? undefined : createConnections(options);
  const service = createClient(FilesService, options.transport ?? createFilesTransport(options, connections));
  return {
    service,
    close: () => connections?.close(),
    uploadFile: (source, uploadOptions) => uploadFile(service, source, uploadOptions),
    downloadFile: (file, destination, downloadOptions) => downloadFile(service, file, destination, downloadOptions),
  };
}

/** The connections of one client: an HTTP/2 session manager, or an HTTP/1.1 agent. */
interface Connections {
  sessionManager?: Http2SessionManager;
  agent?: http.Agent;
  close(): void;
}

function createConnections(options: FilesClientOptions): Connections {
  if ((options.httpVersion ?? "2") === "2") {
    const sessionManager = new Http2SessionManager(options.baseUrl, {}, http2Options);
    return { sessionManager, close: () => sessionManager.abort() };
  }
  const agent = new (options.baseUrl.startsWith("https:") ? https.Agent : http.Agent)({ keepAlive: true });
  return { agent, close: () => agent.destroy() };
}

/**
 * The transport createFilesClient makes from its options; over `connections` when given (so that
 * they can be closed), else over connections of its own.
 */
export function createFilesTransport(options: FilesClientOptions, connections?: Connections): Transport {
  const { baseUrl, apiKey } = options;
  const interceptors: Interceptor[] = [...(options.interceptors ?? [])];
  if (apiKey) {
    interceptors.unshift((next) => (req) => {
      req.header.set("authorization", `Bearer ${apiKey}`);
      return next(req);
    });
  }
  const protocol = options.protocol ?? "grpc";
  const httpVersion = options.httpVersion ?? "2";
  if (protocol === "grpc") {
    if (httpVersion !== "2") throw new Error("gRPC needs HTTP/2 (httpVersion: 2)");
    return createGrpcTransport({ baseUrl, interceptors, nodeOptions: http2Options, ...sessions(connections) });
  }
  const create = protocol === "connect" ? createConnectTransport : createGrpcWebTransport;
  return httpVersion === "2"
    ? create({ baseUrl, interceptors, httpVersion, nodeOptions: http2Options, ...sessions(connections) })
    : create({
        baseUrl,
        interceptors,
        httpVersion,
        nodeOptions: connections?.agent ? { agent: connections.agent } : {},
      });
}

function sessions(connections: Connections | undefined) {
  return connections?.sessionManager ? { sessionManager: connections.sessionManager } : {};
}

// Uploads in parallel share one HTTP/2 connection, and Node counts the data they have queued but not
// yet sent against the session's memory (10 MB by default), past which it resets streams.
const http2Options = { maxSessionMemory: 256 };
