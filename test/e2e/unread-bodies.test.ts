/**
 * An HTTP/1.1 request answered before its body was all read (a health probe, the OpenAPI document,
 * a refusal) must not keep its connection while the client drips the rest: the server would read
 * and throw it away for as long as the client likes, one socket each.
 */
import net from "node:net";
import { startTestApp, type TestApp } from "../support/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ "api-keys": "unread-key-0123456789abcdef:rw:*" });
});
afterAll(() => t?.close());

/** Sends the headers and a sliver of a large declared body; answers the status and whether the server closed the socket. */
function dripping(target: string): Promise<{ status: number; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(t.app.port, "127.0.0.1");
    let response = "";
    let status = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ status, closedByServer: false });
    }, 3000);
    socket.on("data", (d) => {
      response += d.toString("latin1");
      status = Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1] ?? 0);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ status, closedByServer: true });
    });
    socket.on("error", reject);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n0123456789`);
    // Keep dripping, as a slow-body attacker would, to hold the connection.
    const drip = setInterval(() => !socket.destroyed && socket.write("x"), 200);
    socket.on("close", () => clearInterval(drip));
  });
}

test.each(["/openapi.json", "/healthz", "/v1/files"])(
  "%s: answered, then the connection is closed, not drained",
  async (target) => {
    const { status, closedByServer } = await dripping(target);
    expect(status).toBeGreaterThanOrEqual(200);
    expect(closedByServer).toBe(true);
  },
);
