/**
 * Helpers for the persistence tests: a kv-server run as a real process (so it can be
 * killed with SIGKILL), a check that dist/ is built from the current sources, and
 * small RESP utilities.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import { seededRandom } from '../../clients/lib/chaos-random.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = path.join(ROOT, 'dist/src/kv-server.js');

/**
 * The kill -9 tests run the built server, and the snapshot worker always runs from
 * dist/ (see src/persistence/snapshot-runner.ts). A stale build would test old code,
 * so fail early and say what to do.
 */
export function requireFreshBuild(): void {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        const built = path.join(ROOT, 'dist', path.relative(ROOT, full)).replace(/\.ts$/, '.js');
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(full).mtimeMs) stale.push(path.relative(ROOT, full));
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  if (stale.length > 0) {
    throw new Error(`dist/ is older than ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}: run npm run build first`);
  }
}

export function tempDir(prefix = 'dualkv-persist-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A fresh temp dir for each test (`setup` may fill it), removed after the test. */
export function tempDirEach(setup?: (dir: string) => void): { readonly dir: string } {
  let dir = '';
  beforeEach(() => {
    dir = tempDir();
    setup?.(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  return {
    get dir() {
      return dir;
    },
  };
}

export { canMountTmpfs, mountTmpfs } from '../helpers/tmpfs.js';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly tcpPort: number;
  /** Parsed JSON log lines from stdout so far. */
  readonly lines: Array<Record<string, unknown>>;
  /** Resolves with the first log line whose msg is `msg` (already seen or still to come). */
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the first log line that `match` accepts (already seen or still to come). */
  waitForLine(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * Starts `node dist/src/kv-server.js` on port 0 with the given data dir. Rejects (with stderr)
 * if it exits first. Its log files go in `logDir` (default: inside the data dir, so the
 * test's cleanup removes them; the server ignores files it does not know there).
 */
export async function spawnServer(dataDir: string, args: string[] = [], logDir = path.join(dataDir, 'logs')): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--data-dir', dataDir, '--log-dir', logDir, '--no-log-ops', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  // 'close', not 'exit': the last lines the server wrote before it exited may still be in the pipe at 'exit'.
  const exited = once(child, 'close').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stderr }));
  const waitForLine = (match: (l: Record<string, unknown>) => boolean, what: string, timeoutMs = 60_000) => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} log line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${e.code ?? e.signal}) before ${what}: ${e.stderr}`));
      });
    });
  };
  const waitFor = (msg: string, timeoutMs?: number) => waitForLine((l) => l.msg === msg, `"${msg}"`, timeoutMs);
  const listening = await waitFor('listening');
  return {
    child,
    pid: child.pid as number,
    tcpPort: listening.tcpPort as number,
    lines,
    waitFor,
    waitForLine,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * The per-test set-up of the process tests: the build checked once, a fresh temp dir
 * for each test, and after it every server the test spawned through `spawn` killed,
 * every client in `clients` disconnected, `cleanup` run (an umount, say) and the dir
 * removed.
 */
export function processFixture(cleanup?: (dir: string) => void): {
  readonly dir: string;
  readonly clients: Redis[];
  spawn(dataDir: string, args?: string[], logDir?: string): Promise<ServerProcess>;
} {
  let dir = '';
  const clients: Redis[] = [];
  const servers: ServerProcess[] = [];
  beforeAll(() => requireFreshBuild());
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of servers.splice(0)) await s.kill('SIGKILL');
    cleanup?.(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    clients,
    async spawn(dataDir, args, logDir) {
      const s = await spawnServer(dataDir, args, logDir);
      servers.push(s);
      return s;
    },
  };
}

/** Runs the server expecting it to refuse to start; resolves with its exit code and stderr. */
export async function spawnExpectingFailure(
  dataDir: string,
  args: string[] = [],
  logDir = path.join(dataDir, 'logs'),
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, [MAIN, '--port', '0', '--data-dir', dataDir, '--log-dir', logDir, '--no-log-ops', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr, stdout };
}

export function connect(port: number): Redis {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    lazyConnect: false,
  });
  // A killed server resets the connection: the commands in flight fail, which the tests expect.
  r.on('error', () => undefined);
  return r;
}

export async function ready(r: Redis): Promise<Redis> {
  if (r.status !== 'ready') await once(r, 'ready');
  return r;
}

/** A field of INFO persistence, as a string. */
export async function infoField(r: Redis, field: string): Promise<string | undefined> {
  const text = await r.info('persistence');
  return new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(text)?.[1]?.trim();
}

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated from its seed. */
export const rng = seededRandom;

export function randomBytes(next: () => number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(next() * 256);
  return b;
}
