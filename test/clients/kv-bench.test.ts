import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChaosProxy, type ChaosProxy } from '../../clients/lib/chaos-proxy.js';
import { ExitCode } from '../../clients/lib/cli-exit-codes.js';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { havePeer } from '../helpers/peers.js';
import { startMemcached, type Proc } from '../../bench/lib/procs.js';
import { freePort } from './tcp-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/clients/kv-bench.js');

/** The CLI under test is the built one; make sure it is there and not older than its sources. */
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const built = statSync(CLI).mtimeMs;
  const sources = ['clients/kv-bench.ts', ...readdirSync(path.join(ROOT, 'clients/lib/bench')).map((f) => `clients/lib/bench/${f}`)];
  for (const src of sources) {
    if (statSync(path.join(ROOT, src)).mtimeMs > built + 1000) throw new Error(`${src} is newer than ${CLI}: run \`npm run build\` first (npm test does)`);
  }
});

let server: TestServer | null = null;
let proxy: ChaosProxy | null = null;
let memcached: Proc | null = null;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  await proxy?.close();
  await server?.stop();
  await memcached?.stop();
  memcached = null;
  proxy = null;
  server = null;
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kvBench(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  return new Promise((resolve) => {
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

/** The fields README documents for --json, with the type each has. */
const DOCUMENTED_FIELDS = {
  tool: 'string',
  transport: 'string',
  target: 'string',
  config: 'object',
  elapsedS: 'number',
  sent: 'number',
  ok: 'number',
  errors: 'number',
  notFound: 'number',
  opsPerSec: 'number',
  ops: 'object',
  latencyUs: 'object',
  errorKinds: 'object',
} as const;
const NULLABLE_FIELDS = ['udp', 'openLoop', 'preload', 'aborted'] as const;
const CONFIG_FIELDS = ['threads', 'connections', 'pipeline', 'inflight', 'ratio', 'keys', 'valueSize', 'durationS', 'requests', 'warmupS', 'rate', 'seed', 'timeoutMs', 'retries', 'preload'];
const LATENCY_FIELDS = ['count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max'];

interface OpCounts {
  sent: number;
  ok: number;
  notFound: number;
  errors: number;
}

interface Result {
  [k: string]: unknown;
  transport: string;
  sent: number;
  ok: number;
  errors: number;
  notFound: number;
  opsPerSec: number;
  ops: Record<'get' | 'put' | 'del', OpCounts>;
  latencyUs: Record<string, number>;
  errorKinds: Record<string, number>;
  udp: { retries: number; timeouts: number } | null;
  openLoop: { rate: number; unsent: number } | null;
  preload: { keys: number; errors: number } | null;
  aborted: { code: string; message: string } | null;
  config: Record<string, unknown>;
}

/** Parses --json output and checks what holds for every run: the fields, and that the counts add up. */
function parseResult(run: Run): Result {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(ExitCode.OK);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const r = JSON.parse(lines[0] as string) as Result;
  for (const [field, type] of Object.entries(DOCUMENTED_FIELDS)) expect(typeof r[field], field).toBe(type);
  for (const field of NULLABLE_FIELDS) expect(r, field).toHaveProperty(field);
  expect(Object.keys(r.config).sort()).toEqual([...CONFIG_FIELDS].sort());
  expect(Object.keys(r.latencyUs).sort()).toEqual([...LATENCY_FIELDS].sort());
  // Every operation sent ended as a success or an error, and each op kind adds up too.
  expect(r.ok + r.errors).toBe(r.sent);
  const ops = Object.values(r.ops);
  expect(ops.reduce((a, o) => a + o.sent, 0)).toBe(r.sent);
  for (const o of ops) expect(o.ok + o.errors).toBe(o.sent);
  expect(Object.values(r.errorKinds).reduce((a, b) => a + b, 0)).toBe(r.errors);
  expect(r.notFound).toBe(r.ops.get.notFound + r.ops.del.notFound);
  expect(r.latencyUs.count).toBe(r.ok);
  if (r.ok > 0) {
    const l = r.latencyUs as Record<'min' | 'p50' | 'p90' | 'p99' | 'p999' | 'max', number>;
    expect(l.min).toBeGreaterThan(0);
    expect(l.min).toBeLessThanOrEqual(l.p50);
    expect(l.p50).toBeLessThanOrEqual(l.p90);
    expect(l.p90).toBeLessThanOrEqual(l.p99);
    expect(l.p99).toBeLessThanOrEqual(l.p999);
    // HDR percentiles are bucket tops (within 0.1%); max is exact.
    expect(l.p999).toBeLessThanOrEqual(l.max * 1.001 + 1);
  }
  return r;
}

const SHORT = ['--duration', '1', '--warmup', '0', '--json'];

describe('kv-bench against a real kv-server', () => {
  it.each([
    ['tcp', ['--connections', '2', '--pipeline', '4']],
    ['resp', ['--connections', '2', '--pipeline', '4']],
    ['udp', ['--inflight', '8']],
  ])('runs a short mixed load over %s, and every operation it sent is counted once', async (transport, shape) => {
    server = await startTestServer({ logOps: false });
    const port = transport === 'udp' ? server.udpPort : server.tcpPort;
    const r = parseResult(await kvBench(['--transport', transport, '--port', String(port), ...shape, '--keys', '200', '--ratio', '2:1:1', ...SHORT]));
    expect(r.transport).toBe(transport);
    expect(r.sent).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
    for (const o of Object.values(r.ops)) expect(o.sent).toBeGreaterThan(0);
    expect(r.opsPerSec).toBeGreaterThan(0);
    expect(r.udp === null).toBe(transport !== 'udp');
    expect(r.aborted).toBeNull();
  });

  it.each(['tcp', 'resp', 'udp'])('--preload over %s PUTs every key into the server before the run', async (transport) => {
    server = await startTestServer({ logOps: false });
    const port = transport === 'udp' ? server.udpPort : server.tcpPort;
    const shape = transport === 'udp' ? ['--inflight', '4'] : ['--connections', '2'];
    const r = parseResult(await kvBench(['--transport', transport, '--port', String(port), ...shape, '--keys', '40', '--preload', '--ratio', '1:0:0', '--requests', '200', '--warmup', '0', '--json']));
    expect(r.preload).toEqual({ keys: 40, errors: 0 });
    // Only GETs of keys that exist: every one is a hit.
    expect(r.ops.get.ok).toBe(200);
    expect(r.notFound).toBe(0);
    const client = await TcpClient.connect({ port: server.tcpPort });
    try {
      expect(await client.command(['DBSIZE'])).toBe(40);
      expect((await client.get('key:39'))?.length).toBe(100);
    } finally {
      await client.close();
    }
  });

  it.each(['tcp', 'resp'])('over %s authenticates each connection with KV_USER and KV_PASSWORD, and says so when they are wrong', async (transport) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-bench-auth-'));
    const usersFile = path.join(dir, 'users');
    writeFileSync(usersFile, 'bench readwrite plain:bench-pass-3e\n', { mode: 0o600 });
    try {
      server = await startTestServer({ logOps: false, auth: { usersFile, requirepass: null, protectedMode: true } });
      const args = ['--transport', transport, '--port', String(server.tcpPort), '--connections', '2', '--keys', '50', '--requests', '300', '--warmup', '0', '--json'];
      const r = parseResult(await kvBench(args, { KV_USER: 'bench', KV_PASSWORD: 'bench-pass-3e' }));
      expect([r.sent, r.errors]).toEqual([300, 0]);
      const wrong = await kvBench(args, { KV_USER: 'bench', KV_PASSWORD: 'wrong' });
      expect(wrong.code).not.toBe(ExitCode.OK);
      expect(wrong.stdout + wrong.stderr).toMatch(/the server refused AUTH \(check KV_USER and KV_PASSWORD\)/);
      expect(wrong.stdout + wrong.stderr).not.toContain('bench-pass-3e');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--requests N sends exactly N measured operations', async () => {
    server = await startTestServer({ logOps: false });
    const r = parseResult(await kvBench(['--port', String(server.tcpPort), '--connections', '3', '--threads', '2', '--requests', '1001', '--warmup', '0', '--json']));
    expect(r.sent).toBe(1001);
    expect(r.config.requests).toBe(1001);
    expect(r.config.durationS).toBeNull();
  });

  it('--rate runs an open loop that never sends ahead of its schedule', async () => {
    server = await startTestServer({ logOps: false });
    const r = parseResult(await kvBench(['--port', String(server.tcpPort), '--connections', '2', '--rate', '400', ...SHORT]));
    expect(r.openLoop?.rate).toBe(400);
    expect(r.openLoop?.unsent).toBeGreaterThanOrEqual(0);
    expect(r.sent).toBeGreaterThan(0);
    // One second at 400/s: the schedule allows 400, plus the 1 ms look-ahead.
    expect(r.sent).toBeLessThanOrEqual(401);
  });

  it('prints the human table without --json', async () => {
    server = await startTestServer({ logOps: false });
    const run = await kvBench(['--port', String(server.tcpPort), '--connections', '2', '--duration', '0.5', '--warmup', '0']);
    expect(run.code).toBe(ExitCode.OK);
    expect(run.stderr).toBe(''); // no progress line: stderr is not a terminal here
    expect(run.stdout).toMatch(/^kv-bench {2}tcp → 127\.0\.0\.1:\d+ {2}2 connections × pipeline 1/);
    expect(run.stdout).toMatch(/throughput {2}[\d,]+ ops\/s/);
    expect(run.stdout).toMatch(/latency +min +p50 +p90 +p99 +p99\.9 +max +mean/);
    expect(run.stdout).toMatch(/^all +[\d,]+ +[\d,]+ +[\d,]+ +0$/m);
  });
});

describe('kv-bench through a lossy UDP path', () => {
  it('counts the retries and the requests that timed out, and still adds up', async () => {
    server = await startTestServer({ logOps: false });
    // 30% loss each way: about half the round trips fail, so with one retry about a quarter of requests time out.
    proxy = await startChaosProxy({ targetHost: '127.0.0.1', targetPort: server.udpPort, drop: 0.3, seed: 42 });
    const r = parseResult(
      await kvBench(['--transport', 'udp', '--port', String(proxy.port), '--inflight', '16', '--timeout', '10', '--retries', '1', '--keys', '100', ...SHORT]),
    );
    expect(r.udp).not.toBeNull();
    expect(r.udp?.retries).toBeGreaterThan(0);
    expect(r.udp?.timeouts).toBeGreaterThan(0);
    expect(r.errorKinds.timeout).toBe(r.udp?.timeouts);
    expect(r.ok).toBeGreaterThan(0);
    expect(proxy.stats().toServer.dropped).toBeGreaterThan(0);
  });
});

/** memcached is the UDP benchmark's peer; the machines that run bench:udp have it, others skip this. */
const HAVE_MEMCACHED = havePeer('memcached', 'memcached');

describe('kv-bench against memcached', () => {
  it.skipIf(!HAVE_MEMCACHED)('drives memcached -U with the same engine: sets, then gets that hit', async () => {
    memcached = await startMemcached(['-t', '1']);
    const r = parseResult(
      await kvBench(['--transport', 'memcached-udp', '--port', String(memcached.port), '--inflight', '8', '--keys', '50', '--preload', '--ratio', '1:0:0', '--requests', '300', '--warmup', '0', '--json']),
    );
    expect(r.transport).toBe('memcached-udp');
    expect(r.preload).toEqual({ keys: 50, errors: 0 });
    expect(r.ops.get.ok).toBe(300);
    expect(r.notFound).toBe(0);
    expect(r.udp?.timeouts).toBe(0);
  });
});

// "Fast": with an hour's --duration, a kv-bench that went on trying would outlive the
// test's timeout; no figure of time is asserted (tests never assert timings).
describe('kv-bench with no server there', () => {
  it('fails fast over TCP with a message that says what to check', async () => {
    const port = await freePort();
    const run = await kvBench(['--port', String(port), '--duration', '3600']);
    expect(run.code).toBe(ExitCode.CONNECTION);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`cannot connect to 127.0.0.1:${port}: ECONNREFUSED`);
    expect(run.stderr).toContain('is kv-server running there?');
  });

  it('fails fast over UDP, and prints the error as JSON with --json', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = dgram.createSocket('udp4').bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const run = await kvBench(['--transport', 'udp', '--port', String(port), '--duration', '3600', '--json']);
    expect(run.code).toBe(ExitCode.CONNECTION);
    expect(run.stderr).toContain(`udp://127.0.0.1:${port}`);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: expect.stringMatching(/^(CONNECTION|TIMEOUT)$/) } });
  });
});

describe('kv-bench flags', () => {
  it.each([
    [['--transport', 'pigeon'], /--transport|Invalid values/],
    [['--ratio', '1:2'], /--ratio must be get:put:del/],
    [['--ratio', '0:0:0'], /at least one non-zero weight/],
    [['--connections', '0'], /--connections must be a whole number from 1/],
    [['--port', 'abc'], /--port must be a number/],
    [['--port', '70000'], /--port must be a whole number from 1 to 65535/],
    [['--inflight', '8'], /--inflight is for UDP/],
    [['--transport', 'udp', '--pipeline', '4'], /--connections and --pipeline are for TCP/],
    [['--duration', '1', '--requests', '5'], /--duration or --requests, not both/],
    [['--duration', '-1'], /--duration must be a positive number/],
    [['--transport', 'udp', '--value-size', '5000'], /over the 1400-byte limit/],
    [['--threads', '4', '--connections', '2'], /--threads 4 is more than the --connections 2/],
    [['--bogus'], /Unknown argument/],
    [['extra'], /Unknown argument: extra/],
  ])('%j is refused with exit code 2 and a clear message', async (args, message) => {
    const run = await kvBench(args);
    expect(run.code).toBe(ExitCode.USAGE);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('--help');
  });

  it('--help says how many threads it uses', async () => {
    const run = await kvBench(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/one per core \(\d+ here\)/);
    expect(run.stdout).toContain('--threads');
    for (const flag of ['--transport', '--connections', '--inflight', '--pipeline', '--ratio', '--keys', '--value-size', '--duration', '--requests', '--warmup', '--rate', '--seed', '--json']) {
      expect(run.stdout).toContain(flag);
    }
  });
});
