/**
 * The bench's plain HTTP/1.1 client: streams the content up with backpressure and checks what
 * comes down as it arrives, without buffering either. Each request has a connection of its own
 * (no keep-alive), so that no socket outlives its row's server.
 */
import http from "node:http";
import type { BenchContent, ContentVerifier } from "./content.js";

/** A response's status, headers and (for bodies not checked as content) text. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Sends `content` as the body of a request to `url` (content-length set), and answers the response. */
export function sendContent(
  url: string,
  method: string,
  headers: http.OutgoingHttpHeaders,
  content: BenchContent,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { "content-length": content.size, ...headers } },
      (res) => readText(res).then(resolve, reject),
    );
    req.on("error", reject);
    const parts = content.parts();
    const pump = () => {
      for (let next = parts.next(); !next.done; next = parts.next())
        if (!req.write(next.value)) return void req.once("drain", pump);
      req.end();
    };
    pump();
  });
}

/** A request without a body; answers the response with its body as text. */
export function request(
  url: string,
  method = "GET",
  headers: http.OutgoingHttpHeaders = {},
  body?: string,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers }, (res) => readText(res).then(resolve, reject));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * GETs `url` and feeds a 2xx body to `verifier` as it arrives (a body of another status is read
 * as text, for the error); answers the status and headers once the body has ended and checked out.
 */
export function receiveContent(
  url: string,
  headers: http.OutgoingHttpHeaders,
  verifier: ContentVerifier,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      const status = res.statusCode!;
      if (status < 200 || status > 299)
        return void readText(res).then(
          (answer) => reject(new Error(`GET ${url} answered ${status}: ${answer.text}`)),
          reject,
        );
      res.on("data", (data: Buffer) => {
        try {
          verifier.update(data);
        } catch (err) {
          res.destroy(err as Error);
        }
      });
      res.on("error", reject);
      res.on("end", () => {
        try {
          verifier.finish();
          resolve({ status, headers: res.headers, text: "" });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on("error", reject);
  });
}

function readText(res: http.IncomingMessage): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (text += d));
    res.on("error", reject);
    res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
  });
}
