/**
 * Manual check for src/store/embedded-postgres.ts (not a jest test):
 *   node --import tsx test/support/try-embedded-postgres.ts
 * Starts a cluster in a temp dir, restarts it, checks the port-taken error, and recovers from a SIGKILLed parent.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/store/embedded-postgres.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const modulePath = path.join(root, 'src/store/embedded-postgres.ts');
let failures = 0;

function check(name: string, ok: boolean, detail = ''): void {
  if (!ok) failures++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` - ${detail}` : ''}`);
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function version(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select version()`;
    return String(row?.version);
  } finally {
    await sql.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'try-embedded-pg-'));
const dataDir = path.join(tmp, 'data', 'pg');
const port = await freePort();
const lines: string[] = [];
const log = (line: string) => lines.push(line);
let pg: EmbeddedPostgres | undefined;

try {
  if (process.getuid?.() === 0) {
    // mkdtemp makes a 0700 root dir that user "postgres" cannot enter: expect a clear error, then open it up.
    const err = await startEmbeddedPostgres({ dataDir, port, log }).then(() => undefined, (e: Error) => e);
    check('root: unreachable data dir gives a clear error', /cannot enter/.test(err?.message ?? ''), err?.message);
    await fs.chmod(tmp, 0o755);
  }

  let t = Date.now();
  pg = await startEmbeddedPostgres({ dataDir, port, log });
  check('first start (initdb)', existsSync(path.join(dataDir, 'PG_VERSION')), `${Date.now() - t} ms, ${pg.url}`);
  check('select version()', /PostgreSQL/.test(await version(pg.url)), await version(pg.url));
  await pg.stop();
  await pg.stop();
  check('stop twice', !existsSync(path.join(dataDir, 'postmaster.pid')));

  t = Date.now();
  pg = await startEmbeddedPostgres({ dataDir, port, log });
  check('restart on existing cluster', /PostgreSQL/.test(await version(pg.url)), `${Date.now() - t} ms`);
  await pg.stop();

  const blocker = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const err = await startEmbeddedPostgres({ dataDir, port, log }).then(
    async (p) => { await p.stop(); return undefined; }, (e: Error) => e);
  await new Promise((r) => blocker.close(r));
  check('port taken -> clear error', err?.message.includes(String(port)) === true, err?.message);

  // Child starts the cluster, reports readiness, then is SIGKILLed, leaving the postmaster orphaned.
  const helper = path.join(tmp, 'helper.mts');
  await fs.writeFile(helper, `import { startEmbeddedPostgres } from ${JSON.stringify(pathToFileURL(modulePath).href)};
const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port} });
console.log('READY ' + pg.url);
setInterval(() => {}, 1000);
`);
  const child = spawn(process.execPath, ['--import', 'tsx', helper], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
    child.once('exit', (code) => reject(new Error(`helper exited early (code ${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const stalePid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  check('SIGKILLed parent leaves postmaster running', alive(stalePid), `pid ${stalePid}`);

  t = Date.now();
  pg = await startEmbeddedPostgres({ dataDir, port, log });
  const v = await version(pg.url).catch((e: Error) => `error: ${e.message}`);
  check('start after SIGKILL recovers', /PostgreSQL/.test(v) && !alive(stalePid), `${Date.now() - t} ms`);
  await pg.stop();
  check('postgres output went to log, not stdout', lines.length > 0, `${lines.length} lines`);
} catch (err) {
  check('unexpected error', false, (err as Error).stack ?? String(err));
  if (lines.length) console.log(lines.slice(-20).join('\n'));
} finally {
  await pg?.stop().catch(() => {});
  await fs.rm(tmp, { recursive: true, force: true });
}
console.log(failures ? `FAIL (${failures} failed)` : 'PASS (all checks)');
// Explicit exit: embedded-postgres's exit hook turns 'beforeExit' into process.exit(0), losing exitCode.
process.exit(failures ? 1 : 0);
