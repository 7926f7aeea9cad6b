import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll } from 'vitest';

/** The built kv-server; `npm test` builds it first. */
export const MAIN = path.resolve('dist/src/kv-server.js');

export function requireBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
}

/** A kv-server in a child process, its stdout read as JSON log lines. */
export class ServerProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      const text = this.partial + d;
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) this.lines.push(JSON.parse(p) as Record<string, unknown>);
      this.wake();
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.wake();
        resolve({ code, signal });
      }),
    );
  }

  /**
   * Spawns `node [nodeArgs] dist/src/kv-server.js args`. `wrap` runs it under a shell
   * prelude instead (e.g. `ulimit -n 64;` or joining a cgroup), then exec's node.
   */
  static spawn(args: string[], options: { nodeArgs?: string[]; prelude?: string; env?: NodeJS.ProcessEnv } = {}): ServerProcess {
    const env = { ...process.env, KV_PORT: undefined, ...options.env };
    const argv = [...(options.nodeArgs ?? []), MAIN, ...args];
    const child =
      options.prelude === undefined
        ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env })
        : spawn('/bin/sh', ['-c', `${options.prelude} exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
    return new ServerProcess(child);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits (on stdout events, bounded) until `done` holds for the log lines so far. */
  async until(done: (lines: Array<Record<string, unknown>>) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.lines)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`server exited (${String(this.child.exitCode ?? this.child.signalCode)}) while waiting for ${what}; stderr: ${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  }

  find(msg: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Waits for the server's `listening` line (not a front-end's own, such as HTTP's); returns the bound ports. */
  async listening(): Promise<{ tcpPort: number; udpPort: number }> {
    const isServers = (l: Record<string, unknown>) => l.msg === 'listening' && 'tcpPort' in l;
    await this.until((lines) => lines.some(isServers), 'the listening line');
    const l = this.lines.find(isServers) as { tcpPort: number; udpPort: number };
    return { tcpPort: l.tcpPort, udpPort: l.udpPort };
  }

  /** The process's resident set size, from /proc (VmRSS), in bytes. */
  rss(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    if (kb === undefined) throw new Error(`no VmRSS for pid ${this.child.pid}`);
    return Number(kb) * 1024;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for exit, failing (and killing it) if that takes longer than a generous bound. */
  async exit(boundMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), boundMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * The fixture for a describe block of spawned servers: `dir()` makes a temp directory (for
 * the test's own files, such as a users file), `start(args)` spawns kv-server on port 0 with
 * its data and logs in one (`options.dir`, or a new one), and everything is killed and
 * removed after each test.
 */
export function processFixture(): {
  dir(): string;
  start(args?: string[], options?: { env?: NodeJS.ProcessEnv; dir?: string }): { proc: ServerProcess; dir: string };
} {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  beforeAll(() => requireBuilt());
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.kill();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const makeDir = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-proc-'));
    dirs.push(dir);
    return dir;
  };
  return {
    dir: makeDir,
    start(args = [], options = {}) {
      const dir = options.dir ?? makeDir();
      const proc = ServerProcess.spawn(['--port', '0', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), ...args], { env: options.env });
      procs.push(proc);
      return { proc, dir };
    },
  };
}
