import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOnPath, havePeer, runPeer } from '../helpers/peers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const REDIS_CLI = findOnPath('redis-cli') ?? 'redis-cli';
const REDIS_BENCHMARK = findOnPath('redis-benchmark') ?? 'redis-benchmark';

/** Runs redis-cli against 127.0.0.1:`port` (test/helpers/peers.ts runPeer). */
function redisCli(port: number, args: string[], stdin?: string | Buffer, bin = REDIS_CLI): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return runPeer(bin, ['-h', '127.0.0.1', '-p', String(port), ...args], stdin);
}

describe.skipIf(!havePeer('redis-cli', 'redis-tools'))('redis-cli against the RESP2 dialect', () => {
  let srv: TestServer;
  beforeEach(async () => {
    srv = await startTestServer();
  });
  afterEach(async () => srv.stop());

  it('sets, gets and deletes a key', async () => {
    expect(await redisCli(srv.tcpPort, ['set', 'greeting', 'hello world'])).toMatchObject({ code: 0, stdout: Buffer.from('OK\n') });
    expect((await redisCli(srv.tcpPort, ['get', 'greeting'])).stdout.toString()).toBe('hello world\n');
    expect((await redisCli(srv.tcpPort, ['del', 'greeting'])).stdout.toString()).toBe('1\n');
    expect((await redisCli(srv.tcpPort, ['get', 'greeting'])).stdout.toString()).toBe('\n'); // nil prints as an empty line when piped
    expect(srv.server.backend.size).toBe(0);
  });

  it('runs commands read from stdin, in order', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(`SET k${i} v${i}`, `GET k${i}`);
    lines.push('DBSIZE', 'EXISTS k0 k199 nope', 'PING');
    const r = await redisCli(srv.tcpPort, [], lines.join('\n') + '\n');
    expect(r.code).toBe(0);
    const want: string[] = [];
    for (let i = 0; i < 200; i++) want.push('OK', `v${i}`);
    want.push('200', '2', 'PONG');
    expect(r.stdout.toString().split('\n').slice(0, -1)).toEqual(want);
  });

  it('sends a binary value from stdin with -x, byte for byte', async () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect((await redisCli(srv.tcpPort, ['-x', 'set', 'bin'], value)).stdout.toString()).toBe('OK\n');
    expect(Buffer.from(srv.server.backend.get('bin')?.value ?? '', 'latin1').equals(value)).toBe(true);
  });

  it('prints the server error for an unknown command', async () => {
    const r = await redisCli(srv.tcpPort, ['fly', 'away']);
    expect(r.stdout.toString() + r.stderr).toContain("ERR unknown command 'fly', with args beginning with: 'away'");
  });

  it('prints COMMAND DOCS, the table its interactive help and hints are built from, in --no-raw form', async () => {
    const r = await redisCli(srv.tcpPort, ['--no-raw', 'COMMAND', 'DOCS']);
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toMatch(/^ *1\) "\S+"\n/);
    expect(out).toContain('"Get the value of a key"');
    expect(out).toContain('"client|list"');
  });

  it('shows keys, memory and clients in --stat (one row, then stopped)', async () => {
    await redisCli(srv.tcpPort, ['set', 'a', '1']);
    await redisCli(srv.tcpPort, ['set', 'b', '2']);
    // --stat prints a row a second for ever; stdbuf makes its rows reach the pipe as they are printed.
    const child = spawn('stdbuf', ['-oL', REDIS_CLI, '-h', '127.0.0.1', '-p', String(srv.tcpPort), '--stat', '-i', '0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const row = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no --stat row within 10 s: ${out}`)), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+\d+ \(\+\d+\).*$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        }
      });
    });
    child.kill();
    const [keys, mem, clients, blocked] = row.trim().split(/\s+/);
    expect({ keys, clients, blocked }).toEqual({ keys: '2', clients: '1', blocked: '0' });
    expect(mem).toMatch(/^\d+(\.\d+)?[BKMG]$/);
  });
});

describe.skipIf(!havePeer('redis-benchmark', 'redis-tools'))('redis-benchmark against the RESP2 dialect', () => {
  let srv: TestServer;
  beforeEach(async () => {
    srv = await startTestServer({ logOps: false });
  });
  afterEach(async () => srv.stop());

  it('completes a small pipelined SET/GET run (bounded: 2000 requests each; no timing asserted)', async () => {
    const r = await redisCli(srv.tcpPort, ['-c', '4', '-n', '2000', '-P', '16', '-t', 'set,get', '-q'], undefined, REDIS_BENCHMARK);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/SET: [\d.]+ requests per second/);
    expect(r.stdout.toString()).toMatch(/GET: [\d.]+ requests per second/);
    expect(srv.server.backend.has('key:__rand_int__')).toBe(true);
  });

  it("runs every test of its default run whose commands dualkv has, PING_INLINE first (docs/PROTOCOL.md: a first line in CRLF is RESP2)", async () => {
    // The default run's other tests (LPUSH, SADD, HSET, ZADD, …) need lists, sets, hashes and sorted sets, which dualkv does not have.
    const tests = ['ping_inline', 'ping_mbulk', 'set', 'get', 'incr', 'mset'];
    const r = await redisCli(srv.tcpPort, ['-c', '4', '-n', '1000', '-r', '100', '-t', tests.join(','), '-q'], undefined, REDIS_BENCHMARK);
    const out = r.stdout.toString();
    expect(r.code, out + r.stderr).toBe(0);
    expect(out + r.stderr).not.toMatch(/error/i);
    for (const name of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET \\(10 keys\\)']) expect(out).toMatch(new RegExp(`${name}: [\\d.]+ requests per second`));
    // INCR ran 1000 times, spread over up to 100 counters: they add up to 1000.
    const counters = srv.server.backend.keys((k) => k.startsWith('counter:'));
    expect(counters.reduce((sum, k) => sum + Number(srv.server.backend.get(k)?.value), 0)).toBe(1000);
  });
});
