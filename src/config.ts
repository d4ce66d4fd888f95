/**
 * Configuration: every setting has an environment variable and a command-line flag
 * (`--max-file-size 10GiB` or `--max-file-size=10GiB`), flags winning. Defaults make
 * `npm start` work on a fresh machine with nothing set.
 */
import { defaultInlineContentTypes, inlineContentTypeProblem } from "./transcoding/content-disposition.js";

/** The typed configuration object the rest of the service is built from. */
export interface Config {
  /** TCP port for every protocol. */
  port: number;
  /** Interface to bind. */
  host: string;
  /** Base URL put into `url` fields; empty means "from the request's Host header". */
  publicUrl: string;
  /** Postgres URL; empty means "run the embedded Postgres". */
  databaseUrl: string;
  /** Schema that holds the tables (tests give each file its own). */
  databaseSchema: string;
  /** Connections in the pool. */
  databasePoolMax: number;
  /** Postgres cancels a metadata query that runs (or waits for a lock) longer; 0 means never. */
  databaseStatementTimeoutSeconds: number;
  /** A new database connection (pool or session locks) must be ready within this many seconds. */
  databaseConnectTimeoutSeconds: number;
  /** Data directory and port of the embedded Postgres. */
  embeddedPostgresDir: string;
  embeddedPostgresPort: number;
  /** Directory for file content. */
  blobDir: string;
  /** Largest file size a session may declare, in bytes. */
  maxFileSize: number;
  /** Live upload sessions allowed at once (a create beyond answers RESOURCE_EXHAUSTED). */
  maxOpenSessions: number;
  /** Largest protobuf/JSON message Connect reads or writes (an upload chunk must fit). */
  maxMessageBytes: number;
  /** Bytes an upload writes between two fsync+commit checkpoints. */
  checkpointBytes: number;
  /** Seconds an upload session lives without a commit. */
  sessionTtlSeconds: number;
  /** Seconds between two sweeps of expired sessions and orphaned content. */
  sweepIntervalSeconds: number;
  /** A connection with no traffic for this long is closed (a stalled upload stays resumable). */
  idleTimeoutSeconds: number;
  /** An HTTP/1.1 request must send its headers within this many seconds (against slow-loris). */
  headersTimeoutSeconds: number;
  /** Streams (requests) one HTTP/2 connection may have open at once; more are refused (REFUSED_STREAM). */
  http2MaxConcurrentStreams: number;
  /** Longest deadline a client may ask for; 0 means no limit. */
  maxRequestTimeoutSeconds: number;
  /** On SIGTERM, how long in-flight requests may take to finish. */
  shutdownGraceSeconds: number;
  /** API keys as `<key>:<r|w|rw>:<buckets>` entries (see src/access/api-keys.ts); never logged. */
  apiKeys: string;
  /** A JSON file of API keys. */
  apiKeysFile: string;
  /** Serve without API keys on an interface other than loopback. */
  allowOpenAccess: boolean;
  /** Media types a download is shown inline as (`image/png`, `image/*`); others are attachments. */
  inlineContentTypes: string[];
}

type Kind = "string" | "int" | "bytes" | "bool" | "list";
interface Setting {
  env: string;
  kind: Kind;
  default: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** One row per setting: the environment variable, the value's kind and its default. */
const settings: Record<keyof Config, Setting> = {
  port: { env: "PORT", kind: "int", default: "8321" },
  host: { env: "HOST", kind: "string", default: "127.0.0.1" },
  publicUrl: { env: "PUBLIC_URL", kind: "string", default: "" },
  databaseUrl: { env: "DATABASE_URL", kind: "string", default: "" },
  databaseSchema: { env: "DATABASE_SCHEMA", kind: "string", default: "public" },
  databasePoolMax: { env: "DATABASE_POOL_MAX", kind: "int", default: "10" },
  databaseStatementTimeoutSeconds: { env: "DATABASE_STATEMENT_TIMEOUT_SECONDS", kind: "int", default: "30" },
  databaseConnectTimeoutSeconds: { env: "DATABASE_CONNECT_TIMEOUT_SECONDS", kind: "int", default: "10" },
  embeddedPostgresDir: { env: "EMBEDDED_POSTGRES_DIR", kind: "string", default: "./data/pg" },
  embeddedPostgresPort: { env: "EMBEDDED_POSTGRES_PORT", kind: "int", default: "54329" },
  blobDir: { env: "BLOB_DIR", kind: "string", default: "./data/blobs" },
  maxFileSize: { env: "MAX_FILE_SIZE", kind: "bytes", default: "100GiB" },
  maxOpenSessions: { env: "MAX_OPEN_SESSIONS", kind: "int", default: "10000" },
  maxMessageBytes: { env: "MAX_MESSAGE_BYTES", kind: "bytes", default: "4MiB" },
  checkpointBytes: { env: "CHECKPOINT_BYTES", kind: "bytes", default: "16MiB" },
  sessionTtlSeconds: { env: "SESSION_TTL_SECONDS", kind: "int", default: "86400" },
  sweepIntervalSeconds: { env: "SWEEP_INTERVAL_SECONDS", kind: "int", default: "60" },
  idleTimeoutSeconds: { env: "IDLE_TIMEOUT_SECONDS", kind: "int", default: "60" },
  headersTimeoutSeconds: { env: "HEADERS_TIMEOUT_SECONDS", kind: "int", default: "30" },
  http2MaxConcurrentStreams: { env: "HTTP2_MAX_CONCURRENT_STREAMS", kind: "int", default: "100" },
  maxRequestTimeoutSeconds: { env: "MAX_REQUEST_TIMEOUT_SECONDS", kind: "int", default: "0" },
  shutdownGraceSeconds: { env: "SHUTDOWN_GRACE_SECONDS", kind: "int", default: "30" },
  apiKeys: { env: "API_KEYS", kind: "string", default: "" },
  apiKeysFile: { env: "API_KEYS_FILE", kind: "string", default: "" },
  allowOpenAccess: { env: "ALLOW_OPEN_ACCESS", kind: "bool", default: "false" },
  inlineContentTypes: { env: "INLINE_CONTENT_TYPES", kind: "list", default: defaultInlineContentTypes.join(",") },
};

/** Every setting as documentation rows: flag, environment variable, default. */
export function describeSettings(): { flag: string; env: string; default: string }[] {
  return Object.entries(settings).map(([name, s]) => ({ flag: "--" + kebab(name), env: s.env, default: s.default }));
}

/**
 * Builds the configuration from flags, then the environment, then the defaults.
 * Throws an Error naming the setting when a value does not parse.
 */
export function loadConfig(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Config {
  const flags = parseFlags(argv);
  const config: Record<string, string | number | boolean | string[]> = {};
  for (const [name, s] of Object.entries(settings)) {
    const flag = kebab(name);
    const raw = flags.get(flag) ?? env[s.env] ?? s.default;
    flags.delete(flag);
    config[name] = parseValue(raw, s.kind, `--${flag} / ${s.env}`);
  }
  const unknown = [...flags.keys()];
  if (unknown.length > 0) throw new Error(`unknown flag --${unknown[0]} (settings: ${describeSettings().map((d) => d.flag).join(", ")})`);
  const c = config as unknown as Config;
  if (c.maxFileSize > Number.MAX_SAFE_INTEGER) throw new Error("--max-file-size is larger than 8 PiB");
  if (c.checkpointBytes < 64 * KiB) throw new Error("--checkpoint-bytes must be at least 64KiB");
  if (c.headersTimeoutSeconds < 1) throw new Error("--headers-timeout-seconds must be at least 1");
  // 0 would refuse every HTTP/2 request.
  if (c.http2MaxConcurrentStreams < 1) throw new Error("--http2-max-concurrent-streams must be at least 1");
  for (const type of c.inlineContentTypes) {
    const problem = inlineContentTypeProblem(type);
    if (problem) throw new Error(`--inline-content-types / INLINE_CONTENT_TYPES: ${problem}`);
  }
  // postgres.js reads 0 as "wait forever": a database that never answers would hang the start.
  if (c.databaseConnectTimeoutSeconds < 1) throw new Error("--database-connect-timeout-seconds must be at least 1");
  c.publicUrl = c.publicUrl.replace(/\/+$/, "");
  return c;
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument "${argv[i]}"; settings are given as --name value`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`flag --${m[1]} needs a value`);
    flags.set(m[1], value);
  }
  return flags;
}

const units: Record<string, number> = { "": 1, b: 1, k: KiB, kb: KiB, kib: KiB, m: MiB, mb: MiB, mib: MiB, g: GiB, gb: GiB, gib: GiB, t: 1024 * GiB, tb: 1024 * GiB, tib: 1024 * GiB };

/** Parses "4MiB", "512k", "100GiB" or a plain byte count; units are binary. */
export function parseBytes(raw: string): number | undefined {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!m) return undefined;
  const unit = m[2].toLowerCase();
  return Object.hasOwn(units, unit) ? Number(m[1]) * units[unit] : undefined; // not inherited names
}

function parseValue(raw: string, kind: Kind, name: string): string | number | boolean | string[] {
  if (kind === "string") return raw;
  // Comma- or space-separated, as people write lists of media types.
  if (kind === "list") return raw.split(/[\s,]+/).filter((item) => item !== "");
  if (kind === "bool") {
    if (/^(true|1|yes)$/i.test(raw.trim())) return true;
    if (/^(false|0|no|)$/i.test(raw.trim())) return false;
    throw new Error(`${name}: "${raw}" is not true or false`);
  }
  const n = kind === "bytes" ? parseBytes(raw) : /^\d+$/.test(raw.trim()) ? Number(raw) : undefined;
  if (n === undefined || !Number.isSafeInteger(n)) {
    throw new Error(`${name}: "${raw}" is not a ${kind === "bytes" ? "size such as 4MiB" : "whole number"}`);
  }
  return n;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}
