/**
 * Requests whose bodies never finish, sent the way an attacker or a stalled client sends them: raw
 * HTTP/1.1 over a `net` socket, and raw HTTP/2 streams over `node:http2`. The server's answer is
 * collected as it comes, with the time of its first byte and whether the server closed the
 * connection (HTTP/1.1) or the stream (HTTP/2).
 */
import http2 from "node:http2";
import net from "node:net";

/** What the server answered on HTTP/1.1. */
export interface RawAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The body, with any chunked transfer coding removed. */
  body: Buffer;
  /** Milliseconds from sending the request to the answer's first byte. */
  firstByteMs: number;
}

/** One HTTP/1.1 connection that sends a request head and part of a body, and no more unless told. */
export interface PartialRequest {
  socket: net.Socket;
  /** Resolves with the answer once the server has closed the connection; rejects after the time limit. */
  closed: Promise<RawAnswer>;
  /** Sends more of the body. */
  send(bytes: string | Buffer): void;
}

/**
 * Opens a connection to `port`, sends `head` (request line and headers; the blank line is added)
 * and `body`, and keeps the connection open until the server closes it. `closed` rejects if the
 * server has not closed it within `timeoutMs`, saying what it had answered by then.
 */
export function sendPartialRequest(
  port: number,
  head: string,
  body: string | Buffer,
  timeoutMs: number,
): PartialRequest {
  const socket = net.connect(port, "127.0.0.1");
  const started = Date.now();
  let firstByteMs = -1;
  const parts: Buffer[] = [];
  socket.on("data", (data) => {
    if (firstByteMs < 0) firstByteMs = Date.now() - started;
    parts.push(data);
  });
  socket.on("error", () => undefined); // a reset is a close too; what arrived is judged by the test
  const closed = new Promise<RawAnswer>((resolve, reject) => {
    const timer = setTimeout(() => {
      const got = Buffer.concat(parts).toString("latin1").split("\r\n", 1)[0];
      reject(
        new Error(
          `the server had not closed the connection after ${timeoutMs} ms (answer so far: ${got ? JSON.stringify(got) : "nothing"})`,
        ),
      );
      socket.destroy();
    }, timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      try {
        resolve({ ...parseAnswer(Buffer.concat(parts)), firstByteMs });
      } catch (err) {
        reject(err);
      }
    });
  });
  closed.catch(() => undefined); // a test that does not wait for it still gets its socket cleaned up
  socket.write(`${head.replace(/(\r\n)*$/, "")}\r\n\r\n`);
  socket.write(body);
  return { socket, closed, send: (bytes) => void (socket.destroyed || socket.write(bytes)) };
}

function parseAnswer(raw: Buffer): Omit<RawAnswer, "firstByteMs"> {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0)
    throw new Error(`the connection closed without a complete answer: ${JSON.stringify(raw.toString("latin1"))}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

function unchunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const lineEnd = data.indexOf("\r\n", at);
    const size = parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** What the server answered on an HTTP/2 stream. */
export interface Http2Answer {
  headers: http2.IncomingHttpHeaders;
  /** Whether the first header block ended the stream: a trailers-only answer. */
  trailersOnly: boolean;
  trailers: http2.IncomingHttpHeaders;
  firstByteMs: number;
}

/**
 * Opens an HTTP/2 stream with `headers`, sends `body` without ending the stream, and resolves
 * once the server has closed the stream; rejects after `timeoutMs`.
 */
export async function sendPartialHttp2Request(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
  timeoutMs: number,
): Promise<Http2Answer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  try {
    const started = Date.now();
    const stream = session.request({ ":method": "POST", ...headers }, { endStream: false });
    stream.on("error", () => undefined); // the server resets the stream it answered early
    stream.write(body);
    return await new Promise<Http2Answer>((resolve, reject) => {
      const answer: Http2Answer = { headers: {}, trailersOnly: false, trailers: {}, firstByteMs: -1 };
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `the server had not closed the stream after ${timeoutMs} ms (headers so far: ${JSON.stringify(answer.headers)})`,
            ),
          ),
        timeoutMs,
      );
      stream.on("response", (h, flags) => {
        answer.firstByteMs = Date.now() - started;
        answer.headers = h;
        answer.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      stream.on("trailers", (t) => (answer.trailers = t));
      stream.resume();
      stream.once("close", () => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  } finally {
    session.destroy();
  }
}
