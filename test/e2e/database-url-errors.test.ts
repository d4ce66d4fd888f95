/**
 * A DATABASE_URL that does not lead to a working Postgres stops the server at start, at once, with
 * a log line an operator can act on: it names the setting, the host:port it tried (never the
 * password) and what failed — refused, timed out (after --database-connect-timeout-seconds),
 * authentication, unknown host, or a URL that is not one.
 */
import net from "node:net";
import { freePort } from "../support/free-port.js";
import { failedStart } from "../support/server-process.js";

const password = "hunter2-secret";

/** The one line that says why it could not start. */
function failureLine(log: string[]): { message: string; error: string; time: string } {
  const line = log.find((l) => l.includes('"could not start"') || l.includes('"configuration: '));
  if (!line) throw new Error(`no failure line in:\n${log.join("\n")}`);
  return JSON.parse(line);
}

/** A TCP server on 127.0.0.1 that `onConnection` serves; closed after the test. */
const servers: net.Server[] = [];
async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.close();
    server.unref();
  }
});

test("a closed port: exits non-zero at once, naming DATABASE_URL, the host:port and 'refused'", async () => {
  const port = await freePort();
  const started = Date.now();
  const { exit, log } = await failedStart({
    DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
  });
  expect(exit).not.toBe(0);
  expect(Date.now() - started).toBeLessThan(10_000); // tsx compiling the sources takes most of it
  const { error } = failureLine(log);
  expect(error).toMatch(/DATABASE_URL/);
  expect(error).toContain(`127.0.0.1:${port}`);
  expect(error).toMatch(/refused/);
  expect(log.join("\n")).not.toContain(password);
});

test("a host that takes the connection and never answers (a blackhole), timeout 1: fails after about 1 s, saying it timed out", async () => {
  const port = await tcpServer(() => undefined); // accepts, reads nothing, answers nothing
  const { exit, log } = await failedStart({
    DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
    DATABASE_CONNECT_TIMEOUT_SECONDS: "1",
  });
  expect(exit).not.toBe(0);
  const { error, time } = failureLine(log);
  expect(error).toMatch(/DATABASE_URL/);
  expect(error).toContain(`127.0.0.1:${port}`);
  expect(error).toMatch(/timed out after 1 s/);
  // From its first line (written just before it connects) to giving up: the timeout, not more.
  const waited = Date.parse(time) - Date.parse(JSON.parse(log[0]).time);
  expect(waited).toBeGreaterThanOrEqual(900);
  expect(waited).toBeLessThan(3000);
});

test("a wrong password: says authentication failed, with Postgres's words, never the password", async () => {
  // A server that answers the start-up message as Postgres does for a wrong password.
  const port = await tcpServer((socket) => {
    socket.once("data", () => {
      const fields = Buffer.from(`SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0\0`);
      const head = Buffer.alloc(5);
      head.write("E");
      head.writeInt32BE(4 + fields.length, 1);
      socket.end(Buffer.concat([head, fields]));
    });
  });
  const { exit, log } = await failedStart({
    DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
  });
  expect(exit).not.toBe(0);
  const { error } = failureLine(log);
  expect(error).toMatch(/DATABASE_URL/);
  expect(error).toContain(`127.0.0.1:${port}`);
  expect(error).toMatch(/authentication failed: password authentication failed for user "postgres"/);
  expect(log.join("\n")).not.toContain(password);
});

test("an unknown host: says so, naming the host", async () => {
  // .invalid never resolves (RFC 6761).
  const { exit, log } = await failedStart({
    DATABASE_URL: `postgres://postgres:${password}@db.example.invalid:5432/postgres`,
  });
  expect(exit).not.toBe(0);
  const { error } = failureLine(log);
  expect(error).toMatch(/DATABASE_URL/);
  expect(error).toContain("db.example.invalid:5432");
  expect(error).toMatch(/unknown host|could not be looked up/);
  expect(log.join("\n")).not.toContain(password);
});

test.each([
  ["no scheme", `localhost:5432/postgres`],
  ["another scheme", `mysql://root:${password}@127.0.0.1/db`],
  ["a port that is not a number", `postgres://postgres:${password}@127.0.0.1:port/postgres`],
])("a URL that is not one (%s): says so, without showing it", async (_, url) => {
  const { exit, log } = await failedStart({ DATABASE_URL: url });
  expect(exit).not.toBe(0);
  const { error } = failureLine(log);
  expect(error).toMatch(/^DATABASE_URL \/ --database-url: (not a URL such as postgres:\/\/|does not parse as a URL)/);
  expect(log.join("\n")).not.toContain(password);
});
