/**
 * Shared plumbing for the benchmark scripts: install peers from Debian when they
 * are missing, find free loopback ports, and start/stop redis-server, memcached
 * and kv-server as real processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const KV_SERVER = kvServerIn(ROOT);

/** The built kv-server of the checkout at `root`: its bundle, or dist/src/main.js in a checkout from before the bundle. */
export function kvServerIn(root: string): string {
  const bundle = path.join(root, 'dist/src/kv-server.js');
  return existsSync(bundle) ? bundle : path.join(root, 'dist/src/main.js');
}

/** Installs Debian packages whose binaries are missing (CI machines start bare). */
export function ensureDebianPackages(binaries: Record<string, string>): void {
  const missing = Object.entries(binaries).filter(([bin]) => !onPath(bin));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  console.error(`installing ${pkgs.join(', ')} with apt-get`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(path.join(dir, bin)));
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct TCP ports free on 127.0.0.1 right now: all are held at once, so none
 * repeats; a peer may still lose one to another process before it binds, so retry on EADDRINUSE.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface Proc {
  readonly child: ChildProcess;
  readonly port: number;
  stop(): Promise<void>;
}

function waitForPort(port: number, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`process exited with ${child.exitCode} before listening on ${port}`));
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listening on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Stops the process; then removes `ownDir`, a temp directory made for it (its logs run to hundreds of MB). */
function stopper(child: ChildProcess, ownDir: string | null = null): () => Promise<void> {
  return async () => {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    });
    if (ownDir !== null) rmSync(ownDir, { recursive: true, force: true });
  };
}

/** A server certificate, its key and the CA that signed it (bench/lib/test-ca.ts makes them). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/**
 * redis-server on 127.0.0.1 with the given extra config lines, e.g. ['appendonly', 'yes'].
 * With `tls`, it listens only on a TLS port (`--port 0`, no client certificates), and `port` is that one.
 */
export async function startRedis(config: string[][] = [], givenDir?: string, tls?: TlsFiles): Promise<Proc> {
  const dir = givenDir ?? tempDir('dualkv-bench-redis-');
  const port = await freePort();
  const listen =
    tls === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'];
  const args = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...config.flatMap(([k, ...v]) => [`--${k}`, ...v])];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { child, port, stop: stopper(child, givenDir === undefined ? dir : null) };
}

/**
 * kv-server (the built dist/) on free ports, with data and logs in a temp directory.
 * With `tls`, it also listens on a TLS port (README "TLS"), and `port` is that one.
 */
export async function startKvServer(
  extraArgs: string[] = [],
  givenDir?: string,
  options: { stdout?: 'ignore' | 'pipe'; bin?: string; tls?: TlsFiles } = {},
): Promise<Proc & { dir: string }> {
  const bin = options.bin ?? KV_SERVER;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build first`);
  const dir = givenDir ?? tempDir('dualkv-bench-kv-');
  const plainPort = await freePort();
  const tls = options.tls;
  const port = tls === undefined ? plainPort : await freePort();
  const tlsArgs = tls === undefined ? [] : ['--tls-port', String(port), '--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca];
  const args = [bin, '--port', String(plainPort), ...tlsArgs, '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), ...extraArgs];
  // KV_NODE_FLAGS is for Node, not the server: kv-server reads every KV_* variable as an option.
  const { KV_NODE_FLAGS: nodeFlags, ...env } = process.env;
  const child = spawn(process.execPath, [...(nodeFlags?.split(' ').filter(Boolean) ?? []), ...args], {
    cwd: dir,
    env,
    // Op lines go to stdout as they would under a process supervisor: /dev/null, or with
    // `pipe` a pipe that this process never reads (a log collector that has stalled).
    stdio: ['ignore', options.stdout ?? 'ignore', 'inherit'],
  });
  await waitForPort(port, child);
  return { child, port, dir, stop: stopper(child, givenDir === undefined ? dir : null) };
}

/** Runs redis-benchmark -q and returns requests/s per test (e.g. { SET: 81234.5, GET: 90210.1 }). */
export function redisBenchmark(port: number, args: string[]): Record<string, number> {
  const out = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-q', ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const result: Record<string, number> = {};
  for (const line of out.split(/[\r\n]+/)) {
    const m = /^([A-Z_]+)(?:: rps=[\d.]+.*?)?: ([\d.]+) requests per second/.exec(line.trim());
    if (m) result[m[1] as string] = Number(m[2]);
  }
  if (Object.keys(result).length === 0) throw new Error(`could not read redis-benchmark output:\n${out}`);
  return result;
}

/**
 * Runs redis-benchmark -q on one custom command (the words after the options, e.g.
 * `SET key:__rand_int__ xxx EX 100`) and returns its requests/s.
 */
export function redisBenchmarkCommand(port: number, args: string[], command: string[]): number {
  const out = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-q', ...args, ...command], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  // The last of the \r-separated progress lines: "<command>: 20325.20 requests per second, p50=…".
  const m = /: ([\d.]+) requests per second/.exec(out.split(/[\r\n]+/).filter((l) => l.includes('requests per second')).at(-1) ?? '');
  if (!m) throw new Error(`could not read redis-benchmark output for ${command.join(' ')}:\n${out}`);
  return Number(m[1]);
}

/** The most resident memory a process has had since it started (VmHWM), in bytes (Linux). */
export function peakRssBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU time (user + system) a process has used so far, in ms (Linux: /proc/PID/stat, 100 ticks a second). */
export function processCpuMs(pid: number): number {
  try {
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime: fields 14 and 15
  } catch {
    return NaN;
  }
}

/** The machine's 1-minute load average (runnable and waiting tasks), NaN off Linux. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A fixed-width table for the terminal. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** A UDP port free on 127.0.0.1 right now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends memcached's UDP `version` (request ID 1) until it answers, or gives up. */
function waitForMemcachedUdp(port: number, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = Buffer.concat([Buffer.from([0, 1, 0, 0, 0, 1, 0, 0]), Buffer.from('version\r\n')]);
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    let timer: NodeJS.Timeout | null = null;
    const end = (err?: Error) => {
      if (timer) clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve();
    };
    s.on('error', () => undefined); // ICMP unreachable until it listens
    s.on('message', (msg) => {
      if (msg.subarray(8).toString('latin1').startsWith('VERSION ')) end();
    });
    const attempt = () => {
      if (child.exitCode !== null) return end(new Error(`memcached exited with ${child.exitCode} before answering on UDP ${port}`));
      if (Date.now() > deadline) return end(new Error(`memcached did not answer on UDP ${port} after ${timeoutMs} ms`));
      s.send(probe, port, '127.0.0.1');
      timer = setTimeout(attempt, 100);
    };
    attempt();
  });
}

/**
 * memcached with UDP on (`-U`) and TCP off (`-p 0`), on 127.0.0.1. `port` is the
 * UDP port. As root it runs as nobody, since memcached refuses to run as root.
 */
export async function startMemcached(extraArgs: string[] = []): Promise<Proc> {
  const port = await freeUdpPort();
  const args = ['-U', String(port), '-p', '0', '-l', '127.0.0.1', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), ...extraArgs];
  const child = spawn('memcached', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForMemcachedUdp(port, child);
  return { child, port, stop: stopper(child) };
}

/** The machine's CPU time so far, from /proc/stat (Linux), in clock ticks; null elsewhere. */
export function cpuTimes(): { steal: number; total: number } | null {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { steal: fields[7] ?? 0, total };
  } catch {
    return null;
  }
}

/**
 * Percent of the CPU time between two cpuTimes() readings that the hypervisor
 * gave to other guests (steal): a run that lost much of it measured the host,
 * not the server.
 */
export function stealPercent(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>): number | null {
  if (before === null || after === null || after.total <= before.total) return null;
  return (100 * (after.steal - before.steal)) / (after.total - before.total);
}
