/**
 * Asks early whether a TCP port is taken, so that a start can say so plainly before it does slow
 * work (the embedded Postgres) that would be thrown away.
 */
import net from "node:net";

/**
 * True when another socket listens on `port` at `host`; rejects with the error of any other
 * failure (an address that is not local, a privileged port). The answer holds only for a moment.
 */
export function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? resolve(true) : reject(err)));
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}
