import { readFile } from "node:fs/promises";
import { describeSettings, loadConfig, parseBytes } from "../../src/config.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// Always pass an explicit env: the defaults must not depend on the environment the tests run in.
const noEnv = {};

describe("defaults", () => {
  test("with no flags and no environment", () => {
    const c = loadConfig([], noEnv);
    expect(c.port).toBe(8321);
    expect(c.host).toBe("127.0.0.1");
    expect(c.blobDir).toBe("./data/blobs");
    expect(c.databaseUrl).toBe("");
    expect(c.databaseSchema).toBe("public");
    expect(c.publicUrl).toBe("");
    expect(c.maxFileSize).toBe(100 * GiB);
    expect(c.maxMessageBytes).toBe(4 * MiB);
    expect(c.checkpointBytes).toBe(16 * MiB);
    expect(c.sessionTtlSeconds).toBe(86400);
    expect(c.maxRequestTimeoutSeconds).toBe(0);
  });

  test("every setting has a flag and an environment variable", () => {
    const rows = describeSettings();
    expect(rows).toContainEqual({ flag: "--port", env: "PORT", default: "8321" });
    expect(rows).toContainEqual({ flag: "--max-file-size", env: "MAX_FILE_SIZE", default: "100GiB" });
    expect(rows).toContainEqual({ flag: "--blob-dir", env: "BLOB_DIR", default: "./data/blobs" });
    // Every default must itself load (numeric keys give numbers, string keys strings).
    expect(Object.keys(loadConfig([], noEnv)).length).toBe(rows.length);
  });

  test("the README's configuration table lists every setting with its variable and default", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const documented = [...readme.matchAll(/^\| `(--[a-z0-9-]+)` \| `([A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => ({
      flag: m[1],
      env: m[2],
      default: m[3].trim() === "(empty)" ? "" : m[3].trim().replace(/^`|`$/g, ""),
    }));
    expect(documented.sort((a, b) => a.flag.localeCompare(b.flag))).toEqual(
      describeSettings().sort((a, b) => a.flag.localeCompare(b.flag)),
    );
  });
});

describe("environment", () => {
  test("overrides the defaults", () => {
    const c = loadConfig([], {
      PORT: "9000",
      HOST: "0.0.0.0",
      BLOB_DIR: "/srv/blobs",
      MAX_FILE_SIZE: "1GiB",
      DATABASE_URL: "postgres://x/y",
    });
    expect(c.port).toBe(9000);
    expect(c.host).toBe("0.0.0.0");
    expect(c.blobDir).toBe("/srv/blobs");
    expect(c.maxFileSize).toBe(GiB);
    expect(c.databaseUrl).toBe("postgres://x/y");
  });

  test("unrelated variables are ignored", () => {
    expect(() => loadConfig([], { PATH: "/bin", FOO: "bar", port: "1" })).not.toThrow();
    expect(loadConfig([], { port: "1" }).port).toBe(8321); // names are case-sensitive
  });

  test("PUBLIC_URL loses its trailing slashes", () => {
    expect(loadConfig([], { PUBLIC_URL: "https://files.example.com//" }).publicUrl).toBe("https://files.example.com");
  });
});

describe("flags", () => {
  test("--flag value form", () => {
    const c = loadConfig(["--port", "9001", "--host", "::1"], noEnv);
    expect(c.port).toBe(9001);
    expect(c.host).toBe("::1");
  });

  test("--flag=value form", () => {
    const c = loadConfig(["--port=9002", "--max-file-size=10GiB"], noEnv);
    expect(c.port).toBe(9002);
    expect(c.maxFileSize).toBe(10 * GiB);
  });

  test("--flag=value keeps everything after the first =", () => {
    expect(loadConfig(["--database-url=postgres://u@h/db?a=b"], noEnv).databaseUrl).toBe("postgres://u@h/db?a=b");
  });

  test("--flag= gives an empty string", () => {
    expect(loadConfig(["--public-url="], { PUBLIC_URL: "https://x" }).publicUrl).toBe("");
  });

  test("flags win over the environment", () => {
    const c = loadConfig(["--port", "9003", "--blob-dir=/flag"], { PORT: "9000", BLOB_DIR: "/env" });
    expect(c.port).toBe(9003);
    expect(c.blobDir).toBe("/flag");
  });

  test("the environment still applies to settings without a flag", () => {
    const c = loadConfig(["--port", "9003"], { HOST: "10.0.0.1" });
    expect(c.host).toBe("10.0.0.1");
  });

  test("a repeated flag: the last one wins", () => {
    expect(loadConfig(["--port", "1", "--port=2"], noEnv).port).toBe(2);
  });
});

describe("parseBytes", () => {
  test.each([
    ["4MiB", 4 * MiB],
    ["512k", 512 * 1024],
    ["100GiB", 100 * GiB],
    ["12", 12],
    ["0", 0],
    ["7b", 7],
    ["1KB", 1024], // units are binary, whatever their spelling
    ["2 mb", 2 * MiB],
    [" 3G ", 3 * GiB],
    ["1TiB", 1024 * GiB],
  ])("%j is %d bytes", (raw, bytes) => {
    expect(parseBytes(raw)).toBe(bytes);
  });

  test.each(["", "MiB", "1.5GiB", "-1", "4 MiB extra", "4XB", "0x10", "1e3", "4MiB4"])("%j is not a size", (raw) => {
    expect(parseBytes(raw)).toBeUndefined();
  });

  // The unit table is a plain object: names it inherits are not units.
  test.each(["1toString", "1__proto__", "1hasOwnProperty", "1valueOf", "1constructor"])("%j is not a size", (raw) => {
    expect(parseBytes(raw)).toBeUndefined();
  });

  test("loadConfig refuses a prototype name as a unit, naming the setting", () => {
    expect(() => loadConfig(["--max-file-size=1constructor"], noEnv)).toThrow(
      /--max-file-size \/ MAX_FILE_SIZE.*"1constructor"/,
    );
  });
});

describe("bad values", () => {
  test.each([
    [["--port", "http"], /--port \/ PORT.*"http"/],
    [["--port=-1"], /--port \/ PORT/],
    [["--port=80.5"], /--port \/ PORT/],
    [["--max-file-size", "lots"], /--max-file-size \/ MAX_FILE_SIZE.*"lots"/],
    [["--max-message-bytes=1.5MiB"], /--max-message-bytes \/ MAX_MESSAGE_BYTES/],
    [["--session-ttl-seconds="], /--session-ttl-seconds \/ SESSION_TTL_SECONDS/],
  ])("flags %j", (argv, message) => {
    expect(() => loadConfig(argv, noEnv)).toThrow(message);
  });

  test.each([
    [{ PORT: "http" }, /--port \/ PORT.*"http"/],
    [{ MAX_FILE_SIZE: "10 gigs" }, /MAX_FILE_SIZE.*"10 gigs"/],
    [{ DATABASE_POOL_MAX: "" }, /DATABASE_POOL_MAX/],
    [{ CHECKPOINT_BYTES: "1k" }, /--checkpoint-bytes/],
  ])("environment %j", (env, message) => {
    expect(() => loadConfig([], env)).toThrow(message);
  });

  test("a bad environment value does not matter when a flag overrides it", () => {
    expect(loadConfig(["--port", "1"], { PORT: "http" }).port).toBe(1);
  });

  test("a database connect timeout below 1 s is refused (postgres.js would wait forever)", () => {
    expect(loadConfig([], noEnv).databaseConnectTimeoutSeconds).toBe(10);
    expect(() => loadConfig(["--database-connect-timeout-seconds=0"], noEnv)).toThrow(
      /--database-connect-timeout-seconds \/ DATABASE_CONNECT_TIMEOUT_SECONDS: must be at least 1/,
    );
    expect(loadConfig([], { DATABASE_CONNECT_TIMEOUT_SECONDS: "1" }).databaseConnectTimeoutSeconds).toBe(1);
  });

  test("inline content types: a comma- or space-separated list of media types; HTML and SVG are refused", () => {
    expect(loadConfig([], noEnv).inlineContentTypes).toEqual([
      "image/*",
      "application/pdf",
      "text/plain",
      "video/*",
      "audio/*",
    ]);
    expect(loadConfig(["--inline-content-types=image/png, text/plain"], noEnv).inlineContentTypes).toEqual([
      "image/png",
      "text/plain",
    ]);
    expect(loadConfig([], { INLINE_CONTENT_TYPES: "" }).inlineContentTypes).toEqual([]);
    expect(() => loadConfig(["--inline-content-types=image/*,text/html"], noEnv)).toThrow(
      /--inline-content-types \/ INLINE_CONTENT_TYPES: text\/html is never shown inline/,
    );
    expect(() => loadConfig([], { INLINE_CONTENT_TYPES: "image/svg+xml" })).toThrow(
      /image\/svg\+xml is never shown inline/,
    );
    expect(() => loadConfig([], { INLINE_CONTENT_TYPES: "pictures" })).toThrow(
      /INLINE_CONTENT_TYPES: "pictures" is not a media type/,
    );
  });

  test.each([
    ["--idle-timeout-seconds=0", /--idle-timeout-seconds \/ IDLE_TIMEOUT_SECONDS: must be at least 1/],
    ["--session-ttl-seconds=0", /--session-ttl-seconds \/ SESSION_TTL_SECONDS: must be at least 1/],
    ["--max-message-bytes=64KiB", /--max-message-bytes \/ MAX_MESSAGE_BYTES: must be at least 320KiB/],
    [
      "--http2-max-concurrent-streams=0",
      /--http2-max-concurrent-streams \/ HTTP2_MAX_CONCURRENT_STREAMS: must be at least 1/,
    ],
  ])(
    "%s is refused: nothing would end a stalled upload, sessions would expire at once, a piece would not fit, no stream could open",
    (flag, message) => {
      expect(() => loadConfig([flag], noEnv)).toThrow(message);
    },
  );

  test("checkpoint bytes below 64KiB are refused", () => {
    expect(() => loadConfig(["--checkpoint-bytes=63k"], noEnv)).toThrow(/--checkpoint-bytes/);
    expect(loadConfig(["--checkpoint-bytes=64k"], noEnv).checkpointBytes).toBe(64 * 1024);
  });

  test("a maximum file size beyond 2^53 is refused", () => {
    // 8192 TiB = 2^53: no longer an exact JS number.
    expect(() => loadConfig(["--max-file-size=8192TiB"], noEnv)).toThrow(/--max-file-size/);
    expect(loadConfig(["--max-file-size=8191TiB"], noEnv).maxFileSize).toBe(8191 * 1024 * GiB);
  });
});

describe("bad arguments", () => {
  test("an unknown flag is named", () => {
    expect(() => loadConfig(["--prot", "80"], noEnv)).toThrow(/unknown flag --prot/);
  });

  test("the unknown-flag message lists the real settings", () => {
    expect(() => loadConfig(["--nope=1"], noEnv)).toThrow(/--port/);
  });

  test("a flag without a value is named", () => {
    expect(() => loadConfig(["--port"], noEnv)).toThrow(/--port needs a value/);
  });

  test("a bare argument is refused", () => {
    expect(() => loadConfig(["serve"], noEnv)).toThrow(/unexpected argument "serve"/);
  });

  test("a single-dash or camel-case flag is refused", () => {
    expect(() => loadConfig(["-port", "1"], noEnv)).toThrow(/-port/);
    expect(() => loadConfig(["--maxFileSize=1"], noEnv)).toThrow(/maxFileSize/);
  });
});
