/**
 * Configuration: every setting has an environment variable and a command-line flag
 * (`--max-file-size 10GiB` or `--max-file-size=10GiB`), flags winning. Defaults make `npm start`
 * work on a fresh machine with nothing set. Each setting is declared once, in `settings` below: its
 * variable, its default and a zod schema that parses the text into its typed value — the Config
 * type is derived from those schemas. Flags are read with Node's util.parseArgs.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";
import { logLevels } from "./log.js";
import { parseS3Location } from "./store/blobs/s3/s3-client.js";
import { defaultInlineContentTypes, inlineContentTypeProblem } from "./transcoding/content-disposition.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const units: Record<string, number> = {
  "": 1,
  b: 1,
  k: KiB,
  kb: KiB,
  kib: KiB,
  m: MiB,
  mb: MiB,
  mib: MiB,
  g: GiB,
  gb: GiB,
  gib: GiB,
  t: 1024 * GiB,
  tb: 1024 * GiB,
  tib: 1024 * GiB,
};

/** Parses "4MiB", "512k", "100GiB" or a plain byte count; units are binary. */
export function parseBytes(raw: string): number | undefined {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(raw);
  if (!m) return undefined;
  const unit = m[2].toLowerCase();
  return Object.hasOwn(units, unit) ? Number(m[1]) * units[unit] : undefined; // not inherited names
}

// The kinds of value a setting holds, each a schema from the text of a flag or variable.
const text = z.string();
const wholeNumber = z
  .string()
  .trim()
  .regex(/^\d+$/, "is not a whole number")
  .transform(Number)
  .refine(Number.isSafeInteger, "is not a whole number");
const size = z.string().transform((raw, ctx) => {
  const bytes = parseBytes(raw);
  if (bytes === undefined) ctx.addIssue({ code: "custom", message: "is not a size such as 4MiB" });
  return bytes ?? 0;
});
const yesNo = z
  .string()
  .trim()
  .regex(/^(true|1|yes|false|0|no|)$/i, "is not true or false")
  .transform((raw) => /^(true|1|yes)$/i.test(raw));
// `dir`, or an S3 location checked here so that a typo stops the start with the setting's name.
const blobStoreChoice = z
  .string()
  .trim()
  .superRefine((raw, ctx) => {
    if (raw === "dir") return;
    const parsed = parseS3Location(raw);
    if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: `is not dir, and ${parsed}` });
  });
// Empty, or a whole number.
const optionalWholeNumber = z
  .string()
  .trim()
  .regex(/^\d*$/, "is not a whole number")
  .transform((raw) => (raw === "" ? undefined : Number(raw)));
// Comma- or space-separated, as people write lists of media types.
const list = z.string().transform((raw) => raw.split(/[\s,]+/).filter((item) => item !== ""));
const atLeast = <T extends z.ZodType<number, string>>(schema: T, minimum: number, words: string) =>
  schema.refine((n) => n >= minimum, { message: `must be at least ${words}` });

/** A setting: its environment variable, its default as text, and the schema that reads it. */
interface Setting<T extends z.ZodType<unknown, string>> {
  env: string;
  default: string;
  schema: T;
}
const setting = <T extends z.ZodType<unknown, string>>(env: string, defaultValue: string, schema: T): Setting<T> => ({
  env,
  default: defaultValue,
  schema,
});

/** Every setting, once. The README's configuration table documents each (a test holds them equal). */
const settings = {
  /** TCP port for every protocol. */
  port: setting("PORT", "8321", wholeNumber),
  /** Interface to bind. */
  host: setting("HOST", "127.0.0.1", text),
  /** Base URL put into `url` fields; empty means "from the request's Host header". */
  publicUrl: setting(
    "PUBLIC_URL",
    "",
    text.transform((url) => url.replace(/\/+$/, "")),
  ),
  /** Postgres URL; empty means "run the embedded Postgres". */
  databaseUrl: setting("DATABASE_URL", "", text),
  /** Schema that holds the tables (tests give each file its own). */
  databaseSchema: setting("DATABASE_SCHEMA", "public", text),
  /** Connections in the pool. */
  databasePoolMax: setting("DATABASE_POOL_MAX", "10", wholeNumber),
  /** Postgres cancels a metadata query that runs (or waits for a lock) longer; 0 means never. */
  databaseStatementTimeoutSeconds: setting("DATABASE_STATEMENT_TIMEOUT_SECONDS", "30", wholeNumber),
  /** Seconds a new database connection may take; postgres.js reads 0 as "forever", which would hang a start. */
  databaseConnectTimeoutSeconds: setting("DATABASE_CONNECT_TIMEOUT_SECONDS", "10", atLeast(wholeNumber, 1, "1")),
  /** Data directory of the embedded Postgres. */
  embeddedPostgresDir: setting("EMBEDDED_POSTGRES_DIR", "./data/pg", text),
  /** Port of the embedded Postgres. */
  embeddedPostgresPort: setting("EMBEDDED_POSTGRES_PORT", "54329", wholeNumber),
  /** Where file content lives: `dir` (BLOB_DIR) or `s3://bucket[/prefix]` (see README "Content on S3"). */
  blobStore: setting("BLOB_STORE", "dir", blobStoreChoice),
  /** Directory for file content, when BLOB_STORE is `dir`. */
  blobDir: setting("BLOB_DIR", "./data/blobs", text),
  /** Bytes of each part of an S3 multipart upload (S3's minimum is 5 MiB; big files get bigger parts). */
  s3PartSize: setting("S3_PART_SIZE", "8MiB", atLeast(size, 5 * MiB, "5MiB")),
  /** Path-style S3 addresses (http://host/bucket/key): `auto` uses them when AWS_ENDPOINT_URL is set. */
  s3ForcePathStyle: setting("S3_FORCE_PATH_STYLE", "auto", z.enum(["auto", "true", "false"])),
  /** Largest file size a session may declare, in bytes; offsets must stay exact JS numbers. */
  maxFileSize: setting("MAX_FILE_SIZE", "100GiB", size.refine(Number.isSafeInteger, "is larger than 8 PiB")),
  /** Live upload sessions allowed at once (a create beyond answers RESOURCE_EXHAUSTED). */
  maxOpenSessions: setting("MAX_OPEN_SESSIONS", "10000", wholeNumber),
  /** Open upload sessions one API key may have at once. */
  maxOpenSessionsPerKey: setting("MAX_OPEN_SESSIONS_PER_KEY", "1000", wholeNumber),
  /** Bytes one API key's open sessions may declare and not yet have sent. */
  maxPendingBytesPerKey: setting("MAX_PENDING_BYTES_PER_KEY", "1TiB", size),
  /** Largest protobuf/JSON message Connect reads or writes (an upload chunk must fit). */
  // A REST upload piece (256 KiB) and a download chunk (128 KiB), with their framing, must fit.
  maxMessageBytes: setting("MAX_MESSAGE_BYTES", "4MiB", atLeast(size, 320 * KiB, "320KiB")),
  /** Bytes an upload writes between two fsync+commit checkpoints. */
  checkpointBytes: setting("CHECKPOINT_BYTES", "16MiB", atLeast(size, 64 * KiB, "64KiB")),
  /** Seconds an upload session lives without a commit. */
  sessionTtlSeconds: setting("SESSION_TTL_SECONDS", "86400", atLeast(wholeNumber, 1, "1")),
  /** Seconds between two sweeps of expired sessions and content let go of. */
  sweepIntervalSeconds: setting("SWEEP_INTERVAL_SECONDS", "60", wholeNumber),
  /** A connection with no traffic for this long is closed (a stalled upload stays resumable). */
  idleTimeoutSeconds: setting("IDLE_TIMEOUT_SECONDS", "60", atLeast(wholeNumber, 1, "1")),
  /** An HTTP/1.1 request must send its headers within this many seconds (against slow-loris). */
  headersTimeoutSeconds: setting("HEADERS_TIMEOUT_SECONDS", "30", atLeast(wholeNumber, 1, "1")),
  /** A request body read whole (unary calls, REST JSON) must arrive within this many seconds. */
  requestBodyTimeoutSeconds: setting("REQUEST_BODY_TIMEOUT_SECONDS", "30", atLeast(wholeNumber, 1, "1")),
  /** An upload body slower than this many bytes per second over a window is cut; 0: no minimum. */
  minUploadBytesPerSecond: setting("MIN_UPLOAD_BYTES_PER_SECOND", "0", size),
  /** The window, in seconds of waiting for the client, over which the upload rate is averaged. */
  uploadRateWindowSeconds: setting("UPLOAD_RATE_WINDOW_SECONDS", "60", atLeast(wholeNumber, 1, "1")),
  /** Requests one HTTP/2 connection may have open at once (announced in its SETTINGS). */
  http2MaxConcurrentStreams: setting("HTTP2_MAX_CONCURRENT_STREAMS", "100", atLeast(wholeNumber, 1, "1")),
  /** Longest deadline a client may ask for; 0 means no limit. */
  maxRequestTimeoutSeconds: setting("MAX_REQUEST_TIMEOUT_SECONDS", "0", wholeNumber),
  /** On SIGTERM, how long in-flight requests may take to finish. */
  shutdownGraceSeconds: setting("SHUTDOWN_GRACE_SECONDS", "30", wholeNumber),
  /** API keys as `<key>:<r|w|rw>:<buckets>` entries (see src/access/api-keys.ts); never logged. */
  apiKeys: setting("API_KEYS", "", text),
  /** A JSON file of API keys. */
  apiKeysFile: setting("API_KEYS_FILE", "", text),
  /** Origins whose pages may call the service from a browser (CORS): `https://app.example.com`, or `*` for any. */
  corsAllowedOrigins: setting(
    "CORS_ALLOWED_ORIGINS",
    "",
    list.superRefine((origins, ctx) => {
      for (const origin of origins)
        if (origin !== "*" && !/^https?:\/\/[^/\s]+$/i.test(origin.replace(/\/+$/, "")))
          ctx.addIssue({
            code: "custom",
            message: `${JSON.stringify(origin)} is not * or an origin such as https://app.example.com`,
          });
    }),
  ),
  /** Serve without API keys on an interface other than loopback. */
  allowOpenAccess: setting("ALLOW_OPEN_ACCESS", "false", yesNo),
  /** A port of its own for `GET /metrics` (0: any free one); empty: the main port serves it. */
  metricsPort: setting("METRICS_PORT", "", optionalWholeNumber),
  /** `GET /metrics` needs no API key even when keys are on (a scraper on a trusted network). */
  metricsOpen: setting("METRICS_OPEN", "false", yesNo),
  /** Lines below this level are not logged. */
  logLevel: setting("LOG_LEVEL", "info", z.enum(logLevels, { error: `is not one of ${logLevels.join(", ")}` })),
  /** Media types a download is shown inline as (`image/png`, `image/*`); others are attachments. */
  inlineContentTypes: setting(
    "INLINE_CONTENT_TYPES",
    defaultInlineContentTypes.join(","),
    list.superRefine((types, ctx) => {
      for (const type of types) {
        const problem = inlineContentTypeProblem(type);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }
    }),
  ),
};

type Settings = typeof settings;

/** The typed configuration the rest of the service is built from: one value per setting. */
export type Config = { [Name in keyof Settings]: z.output<Settings[Name]["schema"]> };

/** Every setting as documentation rows: flag, environment variable, default. */
export function describeSettings(): { flag: string; env: string; default: string }[] {
  return Object.entries(settings).map(([name, s]) => ({ flag: `--${kebab(name)}`, env: s.env, default: s.default }));
}

/**
 * Builds the configuration from flags, then the environment, then the defaults. Throws an Error
 * naming the setting when a value does not parse, and on an unknown flag.
 */
export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Config {
  return loadConfigWith(argv, env, {}).config;
}

/** Command-line switches a tool takes beside the settings (fsck's --json, say). */
export type Switches = Record<string, { type: "boolean" }>;

/** {@link loadConfig} for a tool that also takes `switches`: the configuration and the switches given. */
export function loadConfigWith<S extends Switches>(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  switches: S,
): { config: Config; switches: { [Name in keyof S]: boolean } } {
  const options: ParseArgsConfig["options"] = { ...switches };
  for (const name of Object.keys(settings)) options[kebab(name)] = { type: "string" };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(argumentProblem(err as Error & { code?: string }));
  }
  const config: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(settings) as [keyof Settings, Setting<z.ZodType<unknown, string>>][]) {
    const flag = kebab(name);
    const raw = (values[flag] as string | undefined) ?? env[s.env] ?? s.default;
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) throw new Error(`--${flag} / ${s.env}: ${describeIssue(raw, parsed.error.issues[0].message)}`);
    config[name] = parsed.data;
  }
  const given = Object.fromEntries(Object.keys(switches).map((name) => [name, values[name] === true])) as {
    [Name in keyof S]: boolean;
  };
  return { config: config as Config, switches: given };
}

/** A refused value, said as people read it: `"http" is not a whole number`, or the rule it broke. */
function describeIssue(raw: string, message: string): string {
  return message.startsWith("is ") ? `"${raw}" ${message}` : message;
}

/** What util.parseArgs refused, in the words of this service's flags. */
function argumentProblem(err: Error & { code?: string }): string {
  const flag = /'(-[^']*)'/.exec(err.message)?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag ${flag ?? ""} (settings: ${describeSettings()
        .map((d) => d.flag)
        .join(", ")})`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${/'([^']*)'/.exec(err.message)?.[1] ?? ""}"; settings are given as --name value`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return `flag ${flag?.split(" ")[0] ?? ""} needs a value`;
    default:
      return err.message;
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
