import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { kvServerIn } from '../../bench/lib/procs.js';

/** Loopback only: the suite's servers are never reachable from elsewhere. */
export const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 3;

/** A server the suite runs against, started on a loopback port of its own. */
export interface SuiteServer {
  readonly kind: 'dualkv' | 'redis-server';
  readonly port: number;
  readonly pid: number;
  /** False once the process has exited, by itself or by stop(). */
  readonly alive: boolean;
  /** The server's own output, for the failure message when it dies. */
  output(): string;
  /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves once the process is gone. */
  stop(): Promise<void>;
}

export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

class ChildServer implements SuiteServer {
  private text = '';
  private readonly exited: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly kind: SuiteServer['kind'],
    readonly child: ChildProcess,
    public port: number,
  ) {
    const take = (d: Buffer): void => {
      // Keep the start of the output (the lines that say why a start failed) and bound the rest.
      if (this.text.length < 256 * 1024) this.text += d.toString('utf8');
      this.wake();
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.exited = new Promise((resolve) => child.once('exit', () => (this.wake(), resolve())));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.text;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits (on output events, bounded) until `found` matches the output so far. */
  async waitFor(found: RegExp, what: string): Promise<RegExpExecArray> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const m = found.exec(this.text);
      if (m !== null) return m;
      if (!this.alive) throw new ServerStartError(`${this.kind} exited before ${what}:\n${this.text}`);
      if (Date.now() > deadline) throw new ServerStartError(`${this.kind} did not say ${what} within ${START_TIMEOUT_MS} ms:\n${this.text}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  }

  async stop(): Promise<void> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Starts the built kv-server (`dist/src/kv-server.js` under `root`, or `dist/src/main.js` in a checkout from before the bundle) on a port the OS picks, with its
 * data and logs in `dir`. Options are the suite's assumptions about a server, not tuning: see
 * the comments.
 */
export async function startDualkv(root: string, dir: string): Promise<SuiteServer> {
  mkdirSync(dir, { recursive: true });
  const args = [
    kvServerIn(root),
    '--host', LOOPBACK,
    '--port', '0',
    '--data-dir', path.join(dir, 'data'),
    '--log-dir', path.join(dir, 'logs'),
    // One log line per command is the default, but the suite sends hundreds of thousands of
    // commands; server events are still logged.
    '--no-log-ops',
    // Redis's proto-max-bulk-len (512 MiB), which the suite assumes: it stores 4 MB values and
    // tests SETRANGE at the 512 MiB edge. dualkv's default is 1 MiB.
    '--max-value-size', '512mb',
  ];
  // KV_* in the caller's environment would change the server under test.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KV_')));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const server = new ChildServer('dualkv', child, 0);
  try {
    const m = await server.waitFor(/"tcpPort":(\d+)[^\n]*"msg":"listening"/, 'that it is listening');
    server.port = Number(m[1]);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** A free loopback TCP port, by binding port 0 and letting it go (retried if someone takes it). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, LOOPBACK, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real redis-server as a plain cache on a free loopback port: no RDB, no AOF, files in
 * `dir`. Its other settings are Redis's defaults, as in the suite's external-server mode.
 */
export async function startRedisServer(bin: string, dir: string): Promise<SuiteServer> {
  mkdirSync(dir, { recursive: true });
  let last: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const args = ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--logfile', ''];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ChildServer('redis-server', child, port);
    try {
      await server.waitFor(/Ready to accept connections/, 'that it is ready');
      return server;
    } catch (err) {
      last = err;
      await server.stop();
      if (!/Address already in use/.test(server.output())) break;
    }
  }
  throw last;
}
