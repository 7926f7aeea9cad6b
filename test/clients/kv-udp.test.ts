import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeRequest, encodeReply, Status } from '../../src/protocol/datagram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist/clients/kv-udp.js');

interface Run {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs the built kv-udp without blocking this process's event loop (the server lives here). */
function kvUdp(args: string[], stdin?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, KV_HOST: '', KV_PORT: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

/** A UDP port with nothing bound to it (bound once, then closed). */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A socket that answers every request with `answer(request bytes)`: stands in for a misbehaving server. */
async function fakeServer(answer: (req: Buffer) => Buffer[]): Promise<{ port: number; close: () => Promise<void> }> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    for (const b of answer(msg)) s.send(b, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return { port: s.address().port, close: () => new Promise((resolve) => s.close(() => resolve())) };
}

describe('kv-udp CLI (the built dist/clients/kv-udp.js)', () => {
  let srv: TestServer | null = null;
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });
  afterEach(async () => {
    await srv?.stop();
    srv = null;
  });

  async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<string[]> {
    srv = await startTestServer(overrides);
    return ['--port', String(srv.udpPort)];
  }

  it('puts, gets and deletes, with exit code 1 for a key that is not there', async () => {
    const p = await server();
    expect(await kvUdp([...p, 'put', 'greeting', 'hello world'])).toMatchObject({ code: 0, stderr: '' });
    expect((await kvUdp([...p, 'put', 'greeting', 'hello world'])).stdout.toString()).toBe('OK\n');
    const get = await kvUdp([...p, 'get', 'greeting']);
    expect(get).toMatchObject({ code: 0, stderr: '' });
    expect(get.stdout.toString()).toBe('hello world'); // raw bytes: no newline when stdout is not a terminal
    const del = await kvUdp([...p, 'del', 'greeting']);
    expect({ code: del.code, out: del.stdout.toString() }).toEqual({ code: 0, out: 'DELETED\n' });
    const miss = await kvUdp([...p, 'get', 'greeting']);
    expect({ code: miss.code, out: miss.stdout.length, err: miss.stderr }).toEqual({ code: 1, out: 0, err: 'kv-udp: not found: "greeting"\n' });
    expect((await kvUdp([...p, 'del', 'greeting'])).code).toBe(1);
  });

  it('reads a PUT value from stdin with -, byte for byte', async () => {
    const p = await server();
    const bytes = Buffer.from([0, 1, 2, 0x0a, 0x0d, 0xff, 0xfe, 0x2d]);
    expect((await kvUdp([...p, 'put', 'bin', '-'], bytes)).code).toBe(0);
    expect(srv?.server.backend.get('bin')?.value).toBe(bytes.toString('latin1'));
    expect((await kvUdp([...p, 'get', 'bin'])).stdout.equals(bytes)).toBe(true);
  });

  it('puts with --ttl, prints the version with getver, and compare-and-sets with cas and cad (exit 1 on a conflict)', async () => {
    const p = await server();
    expect((await kvUdp([...p, 'put', 'session', 'alice', '--ttl', '30m'])).code).toBe(0);
    const ver = await kvUdp([...p, 'getver', 'session']);
    expect(ver.code).toBe(0);
    const [version, value] = ver.stdout.toString().split('\n');
    expect(value).toBe('alice');
    const json = JSON.parse((await kvUdp([...p, '--json', 'getver', 'session'])).stdout.toString()) as { version: number; expiresAt: number };
    expect(json.version).toBe(Number(version));
    expect(json.expiresAt).toBeGreaterThan(Date.now() + 29 * 60_000);

    const cas = await kvUdp([...p, 'cas', 'session', String(version), 'bob', '--keepttl']);
    expect(cas.code).toBe(0);
    const next = Number(cas.stdout.toString());
    expect(next).toBeGreaterThan(Number(version));
    const stale = await kvUdp([...p, 'cas', 'session', String(version), 'carol']);
    expect({ code: stale.code, out: stale.stdout.length, err: stale.stderr }).toEqual({
      code: 1,
      out: 0,
      err: `kv-udp: conflict: "session" is at version ${next}; nothing changed\n`,
    });
    expect(JSON.parse((await kvUdp([...p, '--json', 'getver', 'session'])).stdout.toString())).toMatchObject({ value: 'bob', expiresAt: json.expiresAt });
    expect((await kvUdp([...p, 'cad', 'session', String(version)])).code).toBe(1);
    expect((await kvUdp([...p, 'cad', 'session', String(next)])).stdout.toString()).toBe('DELETED\n');
    expect((await kvUdp([...p, 'getver', 'session'])).code).toBe(1);
  });

  it('sets and removes an expiry with expire and persist, exit 1 when there is nothing to change', async () => {
    const p = await server();
    expect((await kvUdp([...p, 'expire', 'k', '10s'])).code).toBe(1);
    await kvUdp([...p, 'put', 'k', 'v']);
    expect((await kvUdp([...p, 'persist', 'k'])).code).toBe(1);
    expect((await kvUdp([...p, 'expire', 'k', '10s'])).stdout.toString()).toBe('OK\n');
    expect(JSON.parse((await kvUdp([...p, '--json', 'getver', 'k'])).stdout.toString()).expiresAt).toBeGreaterThan(0);
    expect((await kvUdp([...p, 'persist', 'k'])).code).toBe(0);
    expect(JSON.parse((await kvUdp([...p, '--json', 'getver', 'k'])).stdout.toString()).expiresAt).toBeUndefined();
    const bad = await kvUdp([...p, 'put', 'k', 'v', '--ttl', '10']);
    expect({ code: bad.code, err: bad.stderr }).toMatchObject({ code: 2, err: expect.stringContaining('--ttl must be a number with a unit') });
  });

  it('prints JSON with --json, including the attempts made', async () => {
    const p = await server();
    await kvUdp([...p, 'put', 'k', 'v']);
    const hit = JSON.parse((await kvUdp([...p, '--json', 'get', 'k'])).stdout.toString()) as Record<string, unknown>;
    expect(hit).toMatchObject({ command: 'get', key: 'k', found: true, value: 'v', encoding: 'utf8', attempts: 1 });
    const miss = await kvUdp([...p, '--json', 'get', 'nope']);
    expect(miss.code).toBe(1);
    expect(JSON.parse(miss.stdout.toString())).toMatchObject({ command: 'get', key: 'nope', found: false });
    const ping = JSON.parse((await kvUdp([...p, '--json', 'ping'])).stdout.toString()) as Record<string, unknown>;
    expect(ping).toMatchObject({ command: 'ping', result: 'PONG' });
  });

  it('prints every STATS section, fetching those that did not fit in the first datagram', async () => {
    const p = await server();
    const all = await kvUdp([...p, 'stats']);
    expect(all.code).toBe(0);
    const text = all.stdout.toString();
    for (const section of ['# Server', '# Clients', '# Keyspace', '# Commandstats', '# Udp']) expect(text).toContain(section);
    expect(text).toMatch(/^udp_rejected:0$/m);
    expect(text).not.toContain('Omitted');
    const one = JSON.parse((await kvUdp([...p, '--json', 'stats', 'udp'])).stdout.toString()) as { sections: Record<string, Record<string, unknown>> };
    expect(one.sections.udp?.udp_rejected).toBe(0);
  });

  it('fails within timeout × retries, with exit code 3 and a clear message, when nothing listens on the port', async () => {
    const port = await deadPort();
    const r = await kvUdp(['--port', String(port), '--timeout', '100', '--retries', '2', '--verbose', 'get', 'k']);
    expect(r.code).toBe(3);
    // The OS's ICMP port unreachable ends it at once; the kernel rate-limits those, and
    // without one it ends when the retries run out. Either way the message says what to check.
    const refused = `kv-udp: nothing is listening on udp://127.0.0.1:${port} (the OS reported ICMP port unreachable); is the server running, and is this its UDP port?`;
    const timedOut = new RegExp(`kv-udp: no reply from udp://127\\.0\\.0\\.1:${port} to GET after 3 attempts over \\d+ ms; .*\\(--timeout 100 --retries 2\\)`);
    expect(r.stderr.includes(refused) || timedOut.test(r.stderr)).toBe(true);
    expect(r.stderr.split('\n').filter((l) => l.includes('-> GET')).length).toBeLessThanOrEqual(3);
    const json = await kvUdp(['--port', String(port), '--timeout', '100', '--retries', '1', '--json', 'ping']);
    expect(json.code).toBe(3);
    expect(['CONNECTION', 'TIMEOUT']).toContain((JSON.parse(json.stdout.toString()) as { error: { code: string } }).error.code);
  });

  it('fails with exit code 3 after timeout × retries against a server that never answers, showing each retry', async () => {
    const silent = await fakeServer(() => []);
    try {
      const r = await kvUdp(['--port', String(silent.port), '--timeout', '30', '--retries', '2', '--verbose', 'ping']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`kv-udp: no reply from udp://127.0.0.1:${silent.port} to PING after 3 attempts`);
      expect(r.stderr).toContain('is the server running, and is this its UDP port? (--timeout 30 --retries 2)');
      // The first send and both retries, all with the same request ID.
      const sends = r.stderr.split('\n').filter((l) => l.includes('-> PING'));
      expect(sends).toHaveLength(3);
      expect(new Set(sends.map((l) => /id=(0x[0-9a-f]{8})/.exec(l)?.[1])).size).toBe(1);
      const json = await kvUdp(['--port', String(silent.port), '--timeout', '30', '--retries', '1', '--json', 'ping']);
      expect(json.code).toBe(3);
      expect(JSON.parse(json.stdout.toString())).toMatchObject({ command: 'ping', error: { code: 'TIMEOUT', attempts: 2 } });
    } finally {
      await silent.close();
    }
  });

  it('with --verbose, shows a damaged reply being rejected, and still takes the good one', async () => {
    const fake = await fakeServer((msg) => {
      const req = decodeRequest(msg);
      const good = encodeReply({ opcode: req.opcode, id: req.id, status: Status.OK, value: 'PONG' });
      const bad = Buffer.from(good);
      bad[20] = (bad[20] as number) ^ 0x04;
      return [bad, good];
    });
    try {
      const r = await kvUdp(['--port', String(fake.port), '--verbose', 'ping']);
      expect({ code: r.code, out: r.stdout.toString() }).toEqual({ code: 0, out: 'PONG\n' });
      expect(r.stderr).toMatch(/rejected a 26-byte datagram: bad_checksum/);
    } finally {
      await fake.close();
    }
  });

  it('exits 4 on an error reply: a value too large for a datagram, pointing to TCP', async () => {
    const p = await server({ udp: { maxDatagramSize: 200 } });
    srv?.server.backend.put('big', 'x'.repeat(1000));
    const r = await kvUdp([...p, 'get', 'big']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^kv-udp: TOO_LARGE: .*use TCP/);
  });

  it('exits 2 on usage errors, sending nothing', async () => {
    const p = await server();
    expect((await kvUdp([...p])).code).toBe(2);
    expect((await kvUdp(['--port', 'seventy', 'ping'])).stderr).toContain('--port (or KV_PORT) must be a whole number');
    expect((await kvUdp([...p, 'get'])).code).toBe(2);
    const big = await kvUdp([...p, 'put', 'k', 'x'.repeat(2000)]);
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('use kv-tcp for large values');
    expect(Number(srv?.server.ctx.info().udp?.udp_datagrams_received)).toBe(0);
  });
});
