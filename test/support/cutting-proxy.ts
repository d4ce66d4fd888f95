/**
 * A TCP proxy in front of the server that cuts connections at random points: each connection is
 * given a byte budget (both directions together, drawn from a seeded generator, so a failing run
 * can be repeated), and is reset on both sides the moment its traffic passes it — in the middle of a
 * message, as a real network failure would. After `maxCuts` cuts it forwards faithfully, so that a
 * client that resumes properly finishes.
 *
 * It can also hold connections instead (`holdAfter`): past that many bytes a connection's traffic is
 * no longer forwarded, as on a network that went silent, until the client gives up on it; then the
 * server's side is closed too. A test uses it to interrupt a transfer at a known point.
 */
import { type ChildProcess, fork } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

/** How the proxy cuts. */
export interface CutOptions {
  /** Seed of the budgets' generator. */
  seed: number;
  /** Cuts at most this many connections, then forwards everything. */
  maxCuts: number;
  /** Smallest budget of a connection, in bytes. */
  minBytes: number;
  /** Largest budget of a connection, in bytes. */
  maxBytes: number;
}

/** A proxy running in this process, and what it did. */
export interface LocalCuttingProxy {
  port: number;
  /** Connections it accepted. */
  readonly connections: number;
  /** Connections it cut. */
  readonly cuts: number;
  /** Connections held (see holdAfter). */
  readonly held: number;
  /** Starts cutting again: `maxCuts` more (the counts go on). */
  rearm(maxCuts: number): void;
  /** Holds each connection past this many bytes (Infinity: never; connections held stay held). */
  holdAfter(bytes: number): void;
  close(): Promise<void>;
}

/** What a proxy has done so far. */
export interface ProxyCounts {
  /** Connections it accepted. */
  connections: number;
  /** Connections it cut. */
  cuts: number;
  /** Connections held (see holdAfter). */
  held: number;
}

/** A proxy running in a process of its own (see cutting-proxy-process.ts), and what it did. */
export interface CuttingProxy {
  port: number;
  counts(): Promise<ProxyCounts>;
  /** Starts cutting again: `maxCuts` more (the counts go on). */
  rearm(maxCuts: number): Promise<void>;
  /** Holds each connection past this many bytes (Infinity: never; connections held stay held). */
  holdAfter(bytes: number): Promise<void>;
  /** Kills the proxy process: every connection through it ends. */
  close(): Promise<void>;
}

/** Starts a proxy process on 127.0.0.1 to 127.0.0.1:`targetPort`. */
export async function startCuttingProxy(targetPort: number, options: CutOptions): Promise<CuttingProxy> {
  const entry = fileURLToPath(new URL("./cutting-proxy-process.ts", import.meta.url));
  const child: ChildProcess = fork(entry, [String(targetPort), JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (message: { port: number }) => resolve(message.port));
    child.once("exit", (code) => reject(new Error(`the proxy process exited (${code}) before listening`)));
  });
  let nextId = 0;
  const ask = (command: object) =>
    new Promise<ProxyCounts>((resolve) => {
      const id = ++nextId;
      const answer = (message: { id?: number; counts: ProxyCounts }) => {
        if (message.id !== id) return;
        child.off("message", answer);
        resolve(message.counts);
      };
      child.on("message", answer);
      child.send({ ...command, id });
    });
  return {
    port,
    counts: () => ask({ type: "counts" }),
    rearm: async (maxCuts) => void (await ask({ type: "rearm", maxCuts })),
    holdAfter: async (bytes) => void (await ask({ type: "hold", bytes: Number.isFinite(bytes) ? bytes : null })),
    async close() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Runs a proxy in this process on 127.0.0.1 to 127.0.0.1:`targetPort` (cutting-proxy-process.ts does). */
export async function listenCuttingProxy(targetPort: number, options: CutOptions): Promise<LocalCuttingProxy> {
  const random = mulberry32(options.seed);
  let connections = 0;
  let cuts = 0;
  let cutsLeft = options.maxCuts;
  let held = 0;
  let holdAfter = Infinity;
  const open = new Set<net.Socket>();
  // Every socket it made, to be sure each is gone at close: one left open with unread data and a
  // write pending keeps Node from exiting (it spins in its exit cleanup).
  const all = new Set<net.Socket>();

  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    open.add(client).add(upstream);
    all.add(client).add(upstream);
    for (const socket of [client, upstream]) socket.once("close", () => all.delete(socket));
    const budget = options.minBytes + Math.floor(random() * (options.maxBytes - options.minBytes));
    let moved = 0;
    let cut = false;
    let holding = false;
    const resetBoth = () => {
      for (const socket of [client, upstream]) {
        open.delete(socket);
        if (!socket.destroyed) socket.resetAndDestroy();
      }
    };
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on("data", (chunk: Buffer) => {
        if (cut || holding) return;
        if (moved + chunk.byteLength > holdAfter) {
          holding = true;
          held++;
          // Whatever comes from either side from now on is dropped, and the first side to close
          // takes the other with it (resetBoth on "close" below).
          return;
        }
        // A budget is drawn when its connection opens, but a cut is counted against cutsLeft when
        // it happens, so that no more than maxCuts happen with connections open side by side.
        if (moved + chunk.byteLength > budget && cutsLeft > 0) {
          cut = true;
          cutsLeft--;
          cuts++;
          to.write(chunk.subarray(0, Math.max(0, budget - moved)), resetBoth);
          return;
        }
        moved += chunk.byteLength;
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.on("end", () => (holding ? resetBoth() : endOrReset(to)));
      from.on("error", resetBoth);
      from.on("close", () => {
        open.delete(from);
        if (holding) resetBoth();
        else if (!to.destroyed && !to.writableEnded) endOrReset(to);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    get held() {
      return held;
    },
    rearm(maxCuts) {
      cutsLeft = maxCuts;
    },
    holdAfter(bytes) {
      holdAfter = bytes;
    },
    async close() {
      for (const socket of all) if (!socket.destroyed) socket.resetAndDestroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Passes an end on: a FIN once what `socket` still has to send is sent — but if its peer has stopped
 * reading, that would never be, and a socket closed with a shutdown still pending keeps Node from
 * exiting (its exit cleanup spins): then a reset, as the peer's data is lost anyway.
 */
function endOrReset(socket: net.Socket): void {
  if (socket.writableLength > 0) socket.resetAndDestroy();
  else socket.end();
}

/** A small seeded generator of numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
