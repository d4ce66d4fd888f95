/**
 * toConnectError blames the database only for what came from it: a socket errno alone says nothing
 * about whose socket it was (a client's dropped upload breaks with the same ECONNRESET).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import postgres from "postgres";
import { toConnectError } from "../../src/rpc/error-mapping.js";
import { classifyDatabaseError } from "../../src/store/postgres/database.js";
import { createLogger, type Logger } from "../../src/log.js";
import { freePort } from "../support/free-port.js";

// The database's classifier alone: these cases are about what is the database's and what is not.
const classifiers = [classifyDatabaseError];

function capture(): { log: Logger; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return { log: createLogger({ write: (line) => lines.push(JSON.parse(line)) }), lines };
}

test("postgres.js failing to connect (a real refused connection) is the database: unavailable", async () => {
  const sql = postgres(`postgres://nobody@127.0.0.1:${await freePort()}/none`, {
    connect_timeout: 2,
    onnotice: () => {},
  });
  try {
    const refused = await sql`select 1`.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((refused as { code?: string }).code).toBe("ECONNREFUSED");
    const { log, lines } = capture();
    const err = toConnectError(refused, log, classifiers);
    expect(Code[err.code]).toBe(Code[Code.Unavailable]);
    expect(lines).toEqual([expect.objectContaining({ level: "warn", message: "database unavailable" })]);
  } finally {
    await sql.end({ timeout: 1 });
  }
});

test.each(["CONNECTION_CLOSED", "CONNECT_TIMEOUT"])("postgres.js's own %s is the database: unavailable", (code) => {
  const { log, lines } = capture();
  expect(Code[toConnectError(Object.assign(new Error(`write ${code} db:5432`), { code }), log, classifiers).code]).toBe(
    Code[Code.Unavailable],
  );
  expect(lines[0].message).toBe("database unavailable");
});

test("a Postgres error response that says the server is shutting down is the database: unavailable", () => {
  const { log, lines } = capture();
  const err = new postgres.PostgresError({
    message: "terminating connection due to administrator command",
    code: "57P01",
  } as never);
  expect(Code[toConnectError(err, log, classifiers).code]).toBe(Code[Code.Unavailable]);
  expect(lines[0].message).toBe("database unavailable");
});

test.each(["ECONNRESET", "EPIPE", "ETIMEDOUT"])(
  "a bare %s that postgres.js did not raise is not called the database",
  (code) => {
    const { log, lines } = capture();
    const err = toConnectError(Object.assign(new Error("aborted"), { code }), log, classifiers);
    expect(Code[err.code]).toBe(Code[Code.Internal]);
    expect(JSON.stringify(lines)).not.toMatch(/database/);
  },
);

test("a client's cancellation passes as it is, and is not logged as a fault", () => {
  const { log, lines } = capture();
  const gone = new ConnectError(
    "the client went away during the upload",
    Code.Canceled,
    undefined,
    undefined,
    Object.assign(new Error("aborted"), { code: "ECONNRESET" }),
  );
  expect(toConnectError(gone, log, classifiers)).toBe(gone);
  expect(lines).toEqual([]);
});
