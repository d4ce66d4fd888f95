/**
 * Structured logging with pino: one JSON object per line on stderr (`time`, `level`, then the
 * fields, then `message`), so that log collectors can parse it and people can still read it.
 * Errors passed as `err` (or `error`) keep their stack and code; an `authorization` value is
 * redacted wherever it appears. Never pass file content; paths only in lines for operators, never
 * to clients.
 */
import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger as Pino } from "pino";

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** How much is logged. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Every level, least to most severe (for the configuration). */
export const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** The logger every component receives. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line carries `fields` as well (an RPC's name, an upload's id). */
  child(fields: LogFields): Logger;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped (default info). */
  level?: LogLevel;
  /** Drops everything (tests). */
  silent?: boolean;
  /** Receives each line without its newline, instead of stderr (tests). */
  write?: (line: string) => void;
}

/** A logger writing JSON lines to stderr, or to `write`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write;
  // Synchronous on stderr: a line logged right before process.exit ("stopped") must not be lost.
  const destination: DestinationStream = write
    ? { write: (line: string) => write(line.replace(/\n$/, "")) }
    : pino.destination({ fd: 2, sync: true });
  const logger = pino(
    {
      level: options.silent ? "silent" : (options.level ?? "info"),
      messageKey: "message",
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err, error: stdSerializers.err, cause: stdSerializers.err },
      redact: {
        paths: ["authorization", "*.authorization", "headers.authorization", "*.headers.authorization"],
        censor: "[redacted]",
      },
    },
    destination,
  );
  return wrap(logger);
}

function wrap(logger: Pino): Logger {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
    child: (fields) => wrap(logger.child(fields)),
  };
}
