import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { multibulk, respReplies } from './frontends/resp-reader.js';
import { canMountTmpfs, mountTmpfs } from './helpers/tmpfs.js';
import { RawClient } from './helpers/socket.js';

const MAIN = path.resolve('dist/src/kv-server.js');
const MiB = 1024 * 1024;
type Line = Record<string, unknown>;

/** The built kv-server in a child process; its stdout is a pipe that is read only if asked, or /dev/null. */
class ServerProcess {
  readonly stdoutLines: Line[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';

  constructor(
    readonly child: ChildProcess,
    readonly logDir: string,
    readStdout: boolean,
  ) {
    // Left unread, the pipe fills and stays full: a stdout nobody keeps up with.
    if (readStdout) {
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        const parts = (this.partial + d).split('\n');
        this.partial = parts.pop() ?? '';
        for (const p of parts) if (p.trim()) this.stdoutLines.push(JSON.parse(p) as Line);
      });
    }
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The lines in current.log so far (a torn last line left out). */
  fileLines(): Line[] {
    const file = path.join(this.logDir, 'current.log');
    if (!existsSync(file)) return [];
    const out: Line[] = [];
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      try {
        out.push(JSON.parse(l) as Line);
      } catch {
        // the empty tail, or a line cut by a full disk
      }
    }
    return out;
  }

  /** Polls (bounded) until `found` returns something; the server writes to files and pipes, which give no event here. */
  async until<T>(what: string, found: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = found();
      if (v !== undefined && v !== false) return v;
      if (this.child.exitCode !== null) throw new Error(`server exited while waiting for ${what}; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  rssBytes(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.child.pid}/status`, 'utf8'));
    return Number(m?.[1]) * 1024;
  }

  /** SIGTERM, then the exit, SIGKILL'd (so failing the test) if it takes longer than a generous bound. */
  async terminate(boundMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), boundMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** INFO `section` over RESP, as a map of its fields. */
async function info(port: number, section: string): Promise<Record<string, string>> {
  const c = await RawClient.connect(port);
  try {
    c.write(multibulk('INFO', section));
    const [text] = await respReplies(c, 1);
    return Object.fromEntries(
      String(text)
        .split('\r\n')
        .filter((l) => l.includes(':'))
        .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
    );
  } finally {
    c.close();
  }
}

/**
 * One client pipelining SET/GET pairs over RESP as fast as the server answers,
 * at most `maxBatches` batches of 500 pairs and `maxMs` ms, or until `stop()`.
 * Resolves with the requests answered.
 */
async function pipeline(port: number, maxBatches: number, maxMs: number, stop: () => boolean): Promise<number> {
  const key = 'k'.repeat(60);
  let batch = '';
  for (let i = 0; i < 500; i++) {
    const k = `${key}${String(i).padStart(4, '0')}`;
    batch += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$${k.length}\r\n${k}\r\n`;
  }
  const payload = Buffer.from(batch);
  const replyBytes = 500 * ('+OK\r\n'.length + '$1\r\nv\r\n'.length);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const deadline = Date.now() + maxMs;
  let sent = 0;
  let received = 0;
  return new Promise((resolve, reject) => {
    const more = () => {
      const over = sent >= maxBatches || Date.now() >= deadline || stop();
      while (!over && sent - received / replyBytes < 8) {
        socket.write(payload);
        sent++;
      }
      if (over && received >= sent * replyBytes) {
        socket.end();
        resolve(sent * 1000);
      }
    };
    socket.on('data', (d: Buffer) => {
      received += d.length;
      more();
    });
    socket.on('error', reject);
    more();
  });
}

describe('the log under pressure (kv-server process)', () => {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const mounts: string[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  });

  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const m of mounts.splice(0)) execFileSync('umount', [m]);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function tempDir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'dualkv-logproc-'));
    dirs.push(d);
    return d;
  }

  /** `stdout`: true, a pipe read line by line; false, a pipe nobody reads; 'discard', /dev/null (a stdout that keeps up). */
  function spawnServer(logDir: string, stdout: boolean | 'discard', extra: string[] = []): ServerProcess {
    const dir = tempDir();
    const args = [MAIN, '--port', '0', '--no-persistence', '--data-dir', path.join(dir, 'data'), '--log-dir', logDir, ...extra];
    const out = stdout === 'discard' ? 'ignore' : 'pipe';
    const child = spawn(process.execPath, args, { stdio: ['ignore', out, 'pipe'], env: { ...process.env, KV_PORT: undefined } });
    const p = new ServerProcess(child, logDir, stdout === true);
    procs.push(p);
    return p;
  }

  async function listening(p: ServerProcess): Promise<number> {
    const line = await p.until('the listening line', () => p.fileLines().find((l) => l.msg === 'listening'));
    return line.tcpPort as number;
  }

  /**
   * The most RSS `p` reaches under two pipelining clients (6 s or 1200 batches each, as
   * below), stopping early once it passes `stopAt`.
   */
  async function peakUnderLoad(p: ServerProcess, port: number, stopAt: number): Promise<number> {
    let maxRss = p.rssBytes();
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, p.rssBytes())), 100);
    try {
      const tooBig = () => maxRss > stopAt;
      const answered = await Promise.all([pipeline(port, 1200, 6000, tooBig), pipeline(port, 1200, 6000, tooBig)]);
      expect(answered[0] + answered[1]).toBeGreaterThan(0);
    } finally {
      clearInterval(sampler);
    }
    return Math.max(maxRss, p.rssBytes());
  }

  it('keeps its memory bounded when a pipelining client outruns a stdout nobody reads: lines for stdout are dropped, counted and warned about', async () => {
    // What the load itself costs in memory here: the same load with a stdout that keeps up.
    // The bound below is relative to it, so that it holds whatever this machine's V8 and
    // allocator keep after garbage (120 to 180 MiB seen); issue 2's absolute figure is
    // bench/tcp-vs-redis.ts's to measure. The stdout backlog is capped (8 MiB by default);
    // an unbounded queue, as there once was, grows by hundreds of MiB within seconds of this load.
    const control = spawnServer(path.join(tempDir(), 'logs'), 'discard');
    const controlPeak = await peakUnderLoad(control, await listening(control), 400 * MiB);
    control.child.kill('SIGKILL');
    const boundBytes = controlPeak + 8 * MiB + 64 * MiB;
    const dir = tempDir();
    const p = spawnServer(path.join(dir, 'logs'), false);
    const port = await listening(p);
    const started = Date.now();
    const maxRss = await peakUnderLoad(p, port, boundBytes);
    expect(maxRss).toBeLessThan(boundBytes);
    const stats = await info(port, 'logging');
    expect(Number(stats.log_stdout_lines_dropped)).toBeGreaterThan(0);
    expect(Number(stats.log_lines_dropped)).toBeGreaterThanOrEqual(Number(stats.log_stdout_lines_dropped));
    expect(Number(stats.log_stdout_backlog_bytes)).toBeLessThanOrEqual(8 * MiB);
    // The warnings reach the file, which keeps up, at most one a second.
    const warnings = await p.until('a dropped-lines warning', () => {
      const w = p.fileLines().filter((l) => l.level === 'warn' && typeof l.dropped === 'object');
      return w.length > 0 && w;
    });
    expect((warnings[0]?.dropped as Record<string, number>).stdout).toBeGreaterThan(0);
    expect(warnings.length).toBeLessThanOrEqual((Date.now() - started) / 1000 + 1);
    // And a stdout stuck full does not keep it from stopping.
    expect(await p.terminate(15_000)).toEqual({ code: 0, signal: null });
  });

  describe.skipIf(!canMountTmpfs())('on a log volume that fills up', () => {
    it('keeps serving, counts the write errors, writes again once there is room, and exits 0 on SIGTERM while the volume is full', async () => {
      const logDir = path.join(tempDir(), 'logs');
      mkdirSync(logDir);
      mountTmpfs(logDir, 'size=512k');
      mounts.push(logDir);
      // Most of the volume taken at once, so that a few hundred op lines fill the rest.
      const filler = path.join(logDir, 'filler');
      writeFileSync(filler, Buffer.alloc(400 * 1024));
      // A backlog smaller than the room made below: lines queued while the volume was full fit
      // in it once there is room again, however many the load sent before the failure was seen.
      const p = spawnServer(logDir, true, ['--shutdown-timeout', '2000', '--log-max-backlog', '64kb']);
      const port = await listening(p);
      const c = await RawClient.connect(port);
      try {
        const failed = () => p.stdoutLines.find((l) => l.destination === 'file' && (l.err as { code?: string } | undefined)?.code === 'ENOSPC');
        for (let i = 0; i < 200 && !failed(); i++) {
          await c.text(...Array.from({ length: 200 }, (_, j) => `SET key:${i}:${j} v`));
        }
        await p.until('the ENOSPC warning on stdout', failed);
        expect((await c.text('PING'))[0]).toBe('PONG');
        const full = await info(port, 'logging');
        expect(Number(full.log_file_write_errors)).toBeGreaterThan(0);
        expect(full.log_file_failing).toBe('1');
        expect(p.stderr).toMatch(/writing the log file failed .*ENOSPC/);

        // Room again: the next retry (within about a second) writes, and says so.
        rmSync(filler);
        await p.until('the log file writing again', () => p.stdoutLines.find((l) => l.destination === 'file' && l.msg === 'log file writes again'));
        await c.text('SET after-recovery v');
        await p.until('an op line after recovery in the file', () => p.fileLines().find((l) => l.key === 'after-recovery'));
        expect((await info(port, 'logging')).log_file_failing).toBe('0');

        // Full again, and then stopped: shutdown writes what it can and does not wait on the disk.
        const before = Number((await info(port, 'logging')).log_file_write_errors);
        try {
          writeFileSync(filler, Buffer.alloc(512 * 1024));
        } catch (err) {
          // Cut short by the full volume, which is the point.
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        }
        for (let i = 0; i < 200 && Number((await info(port, 'logging')).log_file_write_errors) === before; i++) {
          await c.text(...Array.from({ length: 200 }, (_, j) => `SET again:${i}:${j} v`));
        }
        expect((await info(port, 'logging')).log_file_failing).toBe('1');
      } finally {
        c.close();
      }
      expect(await p.terminate(15_000)).toEqual({ code: 0, signal: null });
      expect(p.stdoutLines.some((l) => l.msg === 'stopped')).toBe(true);
    });
  });
});
