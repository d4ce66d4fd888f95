/**
 * The cutting proxy as a process of its own (started by startCuttingProxy): it listens, tells its
 * parent the port, and answers its parent's messages — counts, rearm, hold — over IPC. It runs apart
 * from the tests because a socket it closes while its peer has stopped reading can keep Node from
 * ever exiting (the exit cleanup spins on it); a process of its own is simply killed.
 */
import { listenCuttingProxy } from "./cutting-proxy.js";

type Command =
  | { id: number; type: "counts" }
  | { id: number; type: "rearm"; maxCuts: number }
  | { id: number; type: "hold"; bytes: number | null };

const [targetPort, options] = [Number(process.argv[2]), JSON.parse(process.argv[3] ?? "{}")];
const proxy = await listenCuttingProxy(targetPort, options);
process.on("message", (command: Command) => {
  if (command.type === "rearm") proxy.rearm(command.maxCuts);
  // JSON has no Infinity: null stands for it.
  if (command.type === "hold") proxy.holdAfter(command.bytes ?? Number.POSITIVE_INFINITY);
  const { connections, cuts, held } = proxy;
  process.send?.({ id: command.id, counts: { connections, cuts, held } });
});
process.send?.({ port: proxy.port });
