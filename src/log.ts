/**
 * Structured logging: one JSON object per line on stderr, so that log collectors can parse it and
 * people can still read it. Never pass secrets or file content; paths only in warnings for
 * operators, never to clients.
 */

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** The logger every component receives. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger writing JSON lines to `write` (stderr by default); `silent` drops everything. */
export function createLogger(options: { silent?: boolean; write?: (line: string) => void } = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const emit = (level: string) => (message: string, fields?: LogFields) => {
    if (options.silent) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  };
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}
