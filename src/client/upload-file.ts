/**
 * One upload, start to finish, through every cut: create the session (or take an existing one),
 * stream the source, and when the call breaks ask for the committed offset and send the rest from
 * there, with the offset as a precondition so that nothing is ever written twice or skipped.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { File, FilesService, UploadSession } from "../../gen/files/v1/files_pb.js";
import {
  abortedError,
  backoffDelay,
  defaultRetryPolicy,
  errorReason,
  isRetryable,
  offsetOf,
  type RetryEvent,
  type RetryPolicy,
  sleep,
} from "./retry-policy.js";
import { openUploadSource, type UploadInput, UploadSourceError } from "./upload-source.js";

/** How far an upload is, in bytes. */
export interface UploadProgress {
  /** Bytes handed to the connection (they may still be lost with it). */
  sent: number;
  /** Bytes the server has committed, as last learned. */
  committed: number;
  /** The file's size. */
  total: number;
}

/** What to upload to, and how. */
export interface UploadOptions {
  bucket: string;
  key: string;
  /** Default application/octet-stream. */
  mimeType?: string;
  /**
   * The content's SHA-256 as promised to the server (it refuses to complete on a mismatch): the
   * lowercase hex digest, or `true` to compute it from a path or Blob in a first pass before the
   * upload starts.
   */
  sha256?: string | true;
  /** The size; required for a stream, checked against a path's or Blob's own size. */
  size?: number;
  /** Resume this session instead of creating one (it must be for the same bucket, key and size). */
  uploadId?: string;
  /** Told the session once it is known: record its id to resume it in another process. */
  onSession?: (session: UploadSession) => void | Promise<void>;
  /** Told how far the upload is, after every chunk and every answer. */
  onProgress?: (progress: UploadProgress) => void;
  /** Told about every failure that will be retried. */
  onRetry?: (event: RetryEvent) => void;
  /** Cancels the upload; the session stays, so that it can be resumed later. */
  signal?: AbortSignal;
  /** Bytes per upload message (default 1 MiB; the server takes up to its max message size). */
  chunkBytes?: number;
  /** Bytes a stream source keeps to resume from (default 40 MiB). */
  streamReplayBytes?: number;
  retry?: Partial<RetryPolicy>;
}

/**
 * Uploads `source` and answers the file it became. Retries broken connections and transient
 * errors from the committed offset; throws a ConnectError otherwise (Canceled when `signal`
 * aborts), or an UploadSourceError when the source cannot give what the session needs.
 */
export async function uploadFile(
  service: Client<typeof FilesService>,
  input: UploadInput,
  options: UploadOptions,
): Promise<File> {
  const policy = { ...defaultRetryPolicy, ...options.retry };
  const { signal } = options;
  const source = await openUploadSource(input, {
    chunkBytes: options.chunkBytes ?? 1024 * 1024,
    streamReplayBytes: options.streamReplayBytes,
  });
  const given = options.size ?? source.size;
  if (given === undefined) throw new UploadSourceError("the size of a stream must be given (options.size)");
  const total: number = given;
  if (source.size !== undefined && source.size !== total) {
    throw new UploadSourceError(`the source has ${source.size} bytes, not the ${total} given as its size`);
  }

  let failures = 0;
  /** Runs a unary call, retrying it like the upload itself. */
  async function retried<T>(call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call();
      } catch (err) {
        await failed(ConnectError.from(err), undefined);
      }
    }
  }
  /** Throws `error` unless it may be retried; else waits out the backoff. */
  async function failed(error: ConnectError, offset: number | undefined): Promise<void> {
    if (signal?.aborted) throw abortedError(signal);
    if (!isRetryable(error, signal) || ++failures > policy.maxAttempts) throw error;
    const delayMs = backoffDelay(policy, failures);
    options.onRetry?.({ attempt: failures, delayMs, error, offset });
    await sleep(delayMs, signal);
  }

  let session: UploadSession;
  if (options.uploadId) {
    const id = options.uploadId;
    session = (await retried(() => service.getUploadSession({ uploadId: id }, { signal }))).session!;
    if (session.bucket !== options.bucket || session.key !== options.key || Number(session.size) !== total) {
      throw new ConnectError(
        `upload session ${id} is for ${session.bucket}/${session.key} (${session.size} bytes), not this upload`,
        Code.FailedPrecondition,
      );
    }
  } else {
    const sha256 = options.sha256 === true ? await source.sha256() : (options.sha256 ?? "");
    const request = {
      bucket: options.bucket,
      key: options.key,
      mimeType: options.mimeType ?? "application/octet-stream",
      size: BigInt(total),
      sha256,
    };
    // A retried create may leave a session behind (its answer lost): it expires unused.
    session = (await retried(() => service.createUploadSession(request, { signal }))).session!;
  }
  await options.onSession?.(session);
  const uploadId = session.id;

  let committed = Number(session.offset);
  let sent = committed;
  const report = () => options.onProgress?.({ sent, committed, total });
  /** Learns a committed offset; progress since the last one forgives the failures before it. */
  const learned = (offset: number) => {
    if (offset > committed) failures = 0;
    committed = offset;
    sent = offset;
    report();
  };
  report();

  let sourceError: unknown;
  /** The source's chunks; a failure to read it is remembered, as it is final and not the network's. */
  async function* read(from: number) {
    const chunks = source.read(from)[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          sourceError = err;
          throw err;
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // A call that broke off or was aborted stops here: the source's file (or reader) is let go.
      await chunks.return?.();
    }
  }
  const sourceFailed = (message: string) => {
    sourceError = new UploadSourceError(message);
    return sourceError;
  };
  // Connect hands a failure of the call to this generator (iterator.throw), so its own checks set
  // sourceError themselves rather than catching everything here.
  async function* messages(from: number) {
    if (from === total) {
      // Nothing left to send (an empty file, or every byte committed but the completion lost): a
      // request without content completes the upload or answers the file.
      yield { uploadId, offset: BigInt(from) };
      return;
    }
    let position = from;
    for await (const data of read(from)) {
      if (position + data.byteLength > total) throw sourceFailed(`the source grew past ${total} bytes`);
      yield position === from ? { uploadId, offset: BigInt(from), data } : { data };
      position += data.byteLength;
      sent = position;
      report();
    }
    if (position < total) throw sourceFailed(`the source ended at ${position} of ${total} bytes`);
  }

  if (session.complete) return completedFile(session);
  for (let from: number | undefined = committed; ; ) {
    try {
      if (from === undefined) {
        const { session: now } = await service.getUploadSession({ uploadId }, { signal });
        if (now!.complete) return completedFile(now!);
        learned(Number(now!.offset));
        from = committed;
      }
      const answer = await service.uploadContent(messages(from), { signal });
      if (answer.file) {
        learned(total);
        return answer.file;
      }
      // Every byte went and the server answered without a file: it did not get them all (a cut it
      // saw before the client did). Retried like a cut, from where it stands.
      learned(Number(answer.session?.offset ?? committed));
      throw new ConnectError(`the server committed ${committed} of ${total} bytes`, Code.Unavailable);
    } catch (err) {
      if (sourceError) throw sourceError;
      const error = ConnectError.from(err);
      if (errorReason(error) === "UPLOAD_COMPLETE") {
        // An earlier try completed it and its answer was lost.
        const { session: done } = await retried(() => service.getUploadSession({ uploadId }, { signal }));
        return completedFile(done!);
      }
      // An offset mismatch or a busy session names the committed offset; otherwise ask.
      const offset = offsetOf(error);
      if (offset !== undefined) learned(offset);
      from = offset;
      await failed(error, from);
    }
  }
}

/** The file a completed session became; an error when it has been replaced or deleted since. */
function completedFile(session: UploadSession): File {
  if (!session.file) {
    throw new ConnectError(
      `upload session ${session.id} completed, but its file has since been replaced or deleted`,
      Code.NotFound,
    );
  }
  return session.file;
}
