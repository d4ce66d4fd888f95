/**
 * FilesService's upload sessions as the resumable-upload protocols (tus, the IETF draft) use them.
 * Each protocol request becomes calls of the service's own methods, in process: through the same
 * interceptors (authentication, drain, error mapping, the call log) and the same upload state
 * machine as gRPC, Connect and REST, so that a tus upload *is* a session — durable offsets,
 * SHA-256, locks, expiry and atomic visibility come with it, and GetUploadSession shows it.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import {
  type CreateUploadSessionRequestSchema,
  FilesService,
  type RequestChecksumSchema,
  type UploadContentRequest,
  UploadContentRequestSchema,
  type UploadSession,
} from "../../gen/files/v1/files_pb.js";
import {
  bodyChunks,
  bodyPieces,
  forwardedHeaders,
  limitRequestBody,
  requestUrl,
  type InProcessCallInit,
  type InProcessMethod,
  type NodeRequest,
  type RequestBodyLimits,
} from "../transcoding/index.js";

/** The session calls one protocol request makes. */
export interface SessionCalls {
  create(request: MessageInitShape<typeof CreateUploadSessionRequestSchema>): Promise<UploadSession>;
  get(uploadId: string): Promise<UploadSession>;
  cancel(uploadId: string): Promise<UploadSession>;
  /**
   * Appends the request's body at `offset` (refused whole when it is not the committed offset);
   * answers the session after it (with its file once complete).
   */
  append(uploadId: string, offset: number, options?: AppendOptions): Promise<UploadSession>;
}

/** How an append is made (UploadContentRequest's fields of the same names). */
export interface AppendOptions {
  /** A checksum of the body: the append is then all or nothing. */
  checksum?: MessageInitShape<typeof RequestChecksumSchema>;
  /** Reaching the declared size does not complete the upload; a later append does. */
  deferCompletion?: boolean;
}

/** What session calls are made with. */
export interface SessionCallOptions {
  /** The router's methods, callable in process (`routeInProcess`). */
  methods: readonly InProcessMethod[];
  /** How fast an upload body must come (as for REST). */
  bodyLimits: RequestBodyLimits;
  /** No message of an upload body carries more than this many bytes. */
  pieceBytes: number;
}

/**
 * The session calls of one HTTP request: they carry its headers (its key), its context values, and
 * `signal`, aborted when the client goes away.
 */
export function createSessionCalls(
  options: SessionCallOptions,
  req: NodeRequest,
  contextValues: ContextValues,
  signal: AbortSignal,
): SessionCalls {
  const byName = new Map(options.methods.map((m) => [m.method, m]));
  const method = (desc: (typeof FilesService.method)[keyof typeof FilesService.method]) => {
    const found = byName.get(desc);
    if (!found) throw new ConnectError(`${desc.name} is not served`, Code.Unimplemented);
    return found;
  };
  const init: InProcessCallInit = {
    header: forwardedHeaders(req),
    signal,
    contextValues,
    requestMethod: req.method ?? "GET",
    url: requestUrl(req),
  };
  const unary = async (target: InProcessMethod, input: Record<string, unknown>): Promise<UploadSession> => {
    const message = create(target.method.input, input);
    for await (const answer of target.call(single(message), init)) return sessionOf(target, answer);
    throw new ConnectError(`${target.method.name} answered no message`, Code.Internal);
  };
  return {
    create: (request) => unary(method(FilesService.method.createUploadSession), request),
    get: (uploadId) => unary(method(FilesService.method.getUploadSession), { uploadId }),
    cancel: (uploadId) => unary(method(FilesService.method.cancelUploadSession), { uploadId }),
    async append(uploadId, offset, { checksum, deferCompletion = false } = {}) {
      const target = method(FilesService.method.uploadContent);
      const body = limitRequestBody(bodyChunks(req), "streamed", options.bodyLimits);
      const first = create(UploadContentRequestSchema, { uploadId, offset: BigInt(offset), checksum, deferCompletion });
      for await (const answer of target.call(uploadMessages(first, body, options.pieceBytes), init))
        return sessionOf(target, answer);
      throw new ConnectError(`${target.method.name} answered no message`, Code.Internal);
    },
  };
}

/** The session an answer carries (every session method answers one). */
function sessionOf(target: InProcessMethod, answer: unknown): UploadSession {
  const session = (answer as { session?: UploadSession }).session;
  if (!session) throw new ConnectError(`${target.method.name} answered no session`, Code.Internal);
  return session;
}

async function* single<T>(message: T): AsyncGenerator<T> {
  yield message;
}

/** The first message, then the body's bytes in messages (as the REST upload sends them). */
async function* uploadMessages(
  first: UploadContentRequest,
  body: AsyncIterable<Uint8Array>,
  pieceBytes: number,
): AsyncGenerator<UploadContentRequest> {
  yield first;
  for await (const data of bodyPieces(body, pieceBytes)) yield create(UploadContentRequestSchema, { data });
}
