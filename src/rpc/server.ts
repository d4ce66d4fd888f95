/**
 * One TCP port for every protocol: a plain `net.Server` sniffs the first bytes of each connection
 * and hands it to an HTTP/2 server (gRPC, or any client with prior knowledge: they open with the
 * HTTP/2 preface) or to an HTTP/1.1 server (curl, Connect and gRPC-Web over HTTP/1.1). Node's own
 * `allowHTTP1` only works over TLS, hence the sniffing. Both servers run the same request handler.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { NodeHandler } from "../transcoding/index.js";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** Serves every request, HTTP/1.1 or HTTP/2 (connectNodeAdapter's handler fits). */
  handler: NodeHandler;
  /** A connection (or an HTTP/2 stream) with no traffic for this long is closed. */
  idleTimeoutMs: number;
  /** An HTTP/1.1 request must have sent all its headers this long after it began (slow-loris). */
  headersTimeoutMs: number;
  /** Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. */
  maxConcurrentStreams: number;
  /** Errors of the listening socket (e.g. accept failing with EMFILE): reported, never fatal. */
  onError: (err: Error) => void;
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
// What nghttp2 may hold for one connection before it refuses new streams with ENHANCE_YOUR_CALM
// (Node's default is 10 MB). Incoming data waiting to be read counts, and the window lets a client
// send 64 MiB ahead: under load a client with many uploads on one connection saw its next calls
// refused. The windows bound that memory already; this only has to stay above them.
const sessionMemoryMegabytes = (2 * connectionWindowBytes) / (1024 * 1024);

/**
 * A response that ends before its request (an error mid-upload) must stop the client, or the
 * stream stays open, unread, until the connection goes: HTTP/2 says it with RST_STREAM(NO_ERROR)
 * once the response is out — after the trailers, when there are some (gRPC's status is in them).
 */
function resetWhenAnswered(stream: http2.ServerHttp2Stream): void {
  let done = false;
  const reset = () => {
    if (done) return;
    done = true;
    setImmediate(() => {
      if (stream.closed || stream.readableEnded) return;
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
      // What the client sent that nobody read would keep the stream half-alive: drop it.
      stream.destroy();
    });
  };
  // The compatibility layer's own listener, registered first, has sent the trailers by now.
  stream.once("wantTrailers", reset);
  // A response without trailers: nothing more will come after a moment.
  stream.once("finish", () => setTimeout(reset, 50).unref());
}

/**
 * Rapid reset (CVE-2023-44487): a client that opens streams and resets them at once never has more
 * than the allowed number open, yet keeps the server starting requests for nobody. Streams that end
 * before their response is complete (the client reset them, mostly) are counted against those that
 * complete; a session that runs more than `allowance` ahead is told to go away (GOAWAY
 * ENHANCE_YOUR_CALM) and takes no new streams. nghttp2's own limit (about 1000 resets, then 33 a
 * second) comes much later. An honest client that cancels a lot just opens a new connection.
 */
function limitResets(session: http2.ServerHttp2Session, allowance: number): void {
  let cutShort = 0;
  let completed = 0;
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    // Node says 'aborted' when a stream closes while its response is still being written.
    let aborted = false;
    stream.once("aborted", () => {
      aborted = true;
      cutShort++;
      if (cutShort - completed > allowance && !session.closed && !session.destroyed) {
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
        session.close();
      }
    });
    stream.once("close", () => {
      if (!aborted) completed++;
    });
  });
}

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
      headersTimeout: options.headersTimeoutMs,
      // How often Node checks headersTimeout: at this grain a slow client is cut.
      connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
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
      // Answered before its body was all read (an error, /healthz, a download): Node would go on
      // reading and throwing away the rest to keep the connection, for as long as a client drips
      // it. The connection closes instead, on every path at once.
      res.once("finish", () => {
        if (!req.complete) socket.destroySoon();
      });
      options.handler(req, res);
    },
  );
  h1.setTimeout(options.idleTimeoutMs);
  // Node starts the headersTimeout checks when its server starts listening; ours never does (it is
  // handed sockets), so start them here.
  h1.emit("listening");

  const h2 = http2.createServer({
    maxSessionMemory: sessionMemoryMegabytes,
    settings: {
      initialWindowSize: streamWindowBytes,
      maxFrameSize: 1024 * 1024 - 1,
      maxConcurrentStreams: options.maxConcurrentStreams,
    },
  });
  h2.on("request", (req, res) => {
    // A client may open a stream and reset it in the same packet (rapid reset). By the next turn of
    // the event loop the whole packet has been read and such a stream is closed: it never reaches a
    // handler, which would query the database and open a file for nobody.
    setImmediate(() => {
      if (!req.stream.closed) options.handler(req, res);
    });
  });
  h2.setTimeout(options.idleTimeoutMs);
  // Sessions to tell to go away (GOAWAY) at shutdown. Node then destroys each one as soon as its
  // last stream has closed, even when the client would keep the connection open.
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    session.setLocalWindowSize(connectionWindowBytes);
    limitResets(session, options.maxConcurrentStreams);
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close(); // arrived while shutting down
  });
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    // The session's timeout sees the whole connection: a stalled stream beside busy ones would
    // hold its upload (and the session's lock) forever.
    stream.setTimeout(options.idleTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    resetWhenAnswered(stream);
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
    // Until an HTTP server takes the socket, its errors are ours: a client that resets before its
    // first byte must not take the process down with an unhandled 'error'.
    const early = () => socket.destroy();
    socket.on("error", early);
    // A connection that never says anything is closed like an idle one.
    const silent = () => socket.destroy();
    socket.setTimeout(options.idleTimeoutMs, silent);
    socket.once("data", (head: Buffer) => {
      // From here on the HTTP server's own idle timeout applies.
      socket.setTimeout(0);
      socket.off("timeout", silent);
      socket.off("error", early); // the HTTP server's own handler takes over
      const n = Math.min(head.length, preface.length);
      if (head.subarray(0, n).equals(preface.subarray(0, n))) {
        // Paused: the HTTP/2 session reads the unshifted bytes from the buffer itself.
        socket.pause();
        socket.unshift(head);
        h2Sockets.add(socket);
        h2.emit("connection", socket);
      } else {
        // Neither paused nor resumed: the HTTP/1.1 server reads the connection's handle itself, and
        // pauses the socket when a request body is not being read. Pausing and resuming it here
        // could leave the stream paused while its handle read on, so that no later pause reached
        // the connection and a body the handler read slowly piled up in memory (a REST upload's
        // whole body, when the disk lagged).
        socket.unshift(head);
        h1.emit("connection", socket);
      }
    });
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          // Once listening, an error (accept failing with EMFILE, say) is reported, not fatal.
          tcp.on("error", (err) => options.onError(err));
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
