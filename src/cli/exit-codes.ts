/**
 * The CLI's exit codes, the one contract a script has with it besides --json, and the one-line
 * error it prints. Every failure goes through exitCodeOf, so each code means one thing.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { UploadSourceError } from "../client/index.js";

/** What an exit code says. */
export const ExitCode = {
  /** Everything asked was done. */
  OK: 0,
  /** The command line is wrong, or names a local file that cannot be read. */
  USAGE: 1,
  /** The server has no such bucket, file or upload session. */
  NOT_FOUND: 2,
  /** No API key, a wrong one, or one without access to the bucket. */
  AUTH: 3,
  /** Any other failure of the server or the network (after the retries), data loss included. */
  FAILED: 4,
  /** Interrupted (Ctrl-C, SIGINT); an upload or download resumes by running the same command again. */
  INTERRUPTED: 130,
} as const;

/** A failure the CLI itself found on the command line. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The exit code an error means. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof UploadSourceError) return ExitCode.USAGE;
  // A local file the command names that is missing or unreadable is the caller's mistake.
  if (isFileSystemError(err)) return ExitCode.USAGE;
  if (!(err instanceof ConnectError)) return ExitCode.FAILED;
  switch (err.code) {
    case Code.NotFound:
      return ExitCode.NOT_FOUND;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return ExitCode.AUTH;
    // The server found the request itself wrong: a bad bucket name, key or size.
    case Code.InvalidArgument:
      return ExitCode.USAGE;
    default:
      return ExitCode.FAILED;
  }
}

/** The error as one line, without a stack: what a script logs and a person reads. */
export function errorLine(err: unknown): string {
  if (err instanceof ConnectError) {
    return `${err.rawMessage.replace(/\s+/g, " ")} (${Code[err.code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase())})`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ");
}

function isFileSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === "string";
}
