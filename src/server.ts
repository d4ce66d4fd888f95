/**
 * One TCP port for every protocol: a plain `net.Server` sniffs the first bytes of each connection
 * and hands it to an HTTP/2 server (gRPC, or any client with prior knowledge: they open with the
 * HTTP/2 preface) or to an HTTP/1.1 server (curl, Connect and gRPC-Web over HTTP/1.1). Node's own
 * `allowHTTP1` only works over TLS, hence the sniffing. Both servers run the same request handler.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** Serves every request, HTTP/1.1 or HTTP/2 (connectNodeAdapter's handler fits). */
  handler: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;
  /** A connection with no traffic for this long is closed. */
  idleTimeoutMs: number;
}

/** A listening (or not yet listening) server. */
export interface Server {
  /** Starts listening; answers the port (useful with port 0). */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
// HTTP/2 flow control: the 64 KiB default windows would stall uploads after every 64 KiB for a
// round trip. 16 MiB per stream and 64 MiB per connection keep a fast client streaming.
const streamWindowBytes = 16 * 1024 * 1024;
const connectionWindowBytes = 64 * 1024 * 1024;

/** Creates the one-port server. */
export function createServer(options: ServerOptions): Server {
  let closing = false;
  // HTTP/1.1 requests in flight per connection. The server never listens itself (we hand it
  // sockets), so its own closeIdleConnections() knows no connections: we keep the count.
  const h1Requests = new Map<net.Socket, number>();
  const h1 = http.createServer(
    {
      // A whole upload may take hours; only headers and idleness are timed.
      requestTimeout: 0,
      headersTimeout: 30_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      const socket = req.socket;
      h1Requests.set(socket, (h1Requests.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (h1Requests.get(socket) ?? 1) - 1;
        h1Requests.set(socket, left);
        if (closing && left === 0) socket.destroySoon();
      });
      if (closing) res.setHeader("connection", "close");
      options.handler(req, res);
    },
  );
  h1.setTimeout(options.idleTimeoutMs);

  const h2 = http2.createServer(
    { settings: { initialWindowSize: streamWindowBytes, maxFrameSize: 1024 * 1024 - 1 } },
    options.handler,
  );
  h2.setTimeout(options.idleTimeoutMs);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    session.setLocalWindowSize(connectionWindowBytes);
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const sockets = new Set<net.Socket>();
  const h2Sockets = new WeakSet<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      h1Requests.delete(socket);
    });
    socket.setNoDelay(true);
    // A connection that never says anything is closed like an idle one.
    const silent = () => socket.destroy();
    socket.setTimeout(options.idleTimeoutMs, silent);
    socket.once("data", (head: Buffer) => {
      // From here on the HTTP server's own idle timeout applies.
      socket.setTimeout(0);
      socket.off("timeout", silent);
      socket.pause();
      socket.unshift(head);
      const n = Math.min(head.length, preface.length);
      if (head.subarray(0, n).equals(preface.subarray(0, n))) {
        // Stays paused: the HTTP/2 session reads the unshifted bytes from the buffer itself.
        h2Sockets.add(socket);
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve((tcp.address() as net.AddressInfo).port);
        });
      });
    },
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close(); // GOAWAY: no new streams, running ones finish
      for (const socket of sockets) {
        // Idle HTTP/1.1 keep-alive connections (or ones that never sent a byte) go now.
        if (!h2Sockets.has(socket) && !h1Requests.get(socket)) socket.destroy();
      }
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([closed, deadline]);
      // Whatever is still running is cut: uploads commit what they received when their stream breaks.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
