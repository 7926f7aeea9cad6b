import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, type CertFiles, type TestCa } from '../../bench/lib/test-ca.js';
import { havePeer } from '../helpers/peers.js';
import { ExitCode } from '../../clients/lib/cli-exit-codes.js';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeServer, freePort } from './tcp-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/clients/kv-tcp.js');

/** The CLI under test is the built one; make sure it is there and not older than its sources. */
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const built = statSync(CLI).mtimeMs;
  for (const src of ['clients/kv-tcp.ts', 'clients/lib/tcp-client.ts', 'clients/lib/tcp-cli-actions.ts', 'clients/lib/cli-output.ts']) {
    if (statSync(path.join(ROOT, src)).mtimeMs > built + 1000) {
      throw new Error(`${src} is newer than ${CLI}: run \`npm run build\` first (npm test does)`);
    }
  }
});

let server: TestServer | null = null;
let fake: FakeServer | null = null;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  await server?.stop();
  await fake?.stop();
  server = null;
  fake = null;
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built CLI to its end with `input` on stdin. KV_* are cleared so the machine's env cannot leak in. */
function kvTcp(args: string[], opts: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, KV_HOST: '', KV_PORT: '', ...opts.env };
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function withServer(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<(...args: string[]) => Promise<Run>> {
  server = await startTestServer({ logOps: false, ...overrides });
  const port = String(server.tcpPort);
  return (...args: string[]) => kvTcp(['--port', port, ...args]);
}

/** Reads the server's state directly, not through the CLI under test. */
async function serverValue(key: string | Buffer): Promise<Buffer | null> {
  const c = await TcpClient.connect({ port: (server as TestServer).tcpPort });
  try {
    return await c.get(key);
  } finally {
    await c.close();
  }
}

const json = (r: Run) => JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown>;

describe('kv-tcp one-shot commands', () => {
  it('put, get, del, ping and stats print their results and exit 0', async () => {
    const kv = await withServer();
    expect(await kv('put', 'greeting', 'hello world')).toMatchObject({ code: 0, stderr: '' });
    expect((await kv('put', 'greeting', 'hello world')).stdout.toString()).toBe('OK\n');
    expect(await serverValue('greeting')).toEqual(Buffer.from('hello world'));

    const got = await kv('get', 'greeting');
    expect(got.code).toBe(ExitCode.OK);
    // stdout is a pipe here: the raw value, no newline added.
    expect(got.stdout.toString()).toBe('hello world');

    const ping = await kv('ping');
    expect([ping.code, ping.stdout.toString()]).toEqual([0, 'PONG\n']);

    const stats = await kv('stats');
    expect(stats.code).toBe(0);
    expect(stats.stdout.toString()).toMatch(/^# Server\n/);
    expect(stats.stdout.toString()).toMatch(/\ndb0:keys=1,expires=0,avg_ttl=0\n/);

    const del = await kv('del', 'greeting');
    expect([del.code, del.stdout.toString()]).toEqual([0, 'DELETED\n']);
    expect(await serverValue('greeting')).toBeNull();
  });

  it('exits 1 with a note on stderr for a key that does not exist, for get and del', async () => {
    const kv = await withServer();
    for (const cmd of ['get', 'del']) {
      const r = await kv(cmd, 'missing');
      expect(r.code).toBe(ExitCode.NOT_FOUND);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toBe('kv-tcp: not found: "missing"\n');
    }
  });

  it('put KEY - stores stdin byte for byte, newlines and all, and get gives the same bytes back', async () => {
    const kv = await withServer();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const value = Buffer.concat([Buffer.from('line one\nline two\r\n\n'), all, Buffer.from('\n')]);
    expect((await kvTcp(['--port', String(server?.tcpPort), 'put', 'blob', '-'], { input: value })).code).toBe(0);
    expect((await serverValue('blob'))?.equals(value)).toBe(true);
    const got = await kv('get', 'blob');
    expect(got.code).toBe(0);
    expect(got.stdout.equals(value)).toBe(true);
  });

  it('takes values that look like flags after --, and keeps numbers and words as typed', async () => {
    const kv = await withServer();
    expect((await kv('put', 'n', '--', '-5')).code).toBe(0);
    expect(await serverValue('n')).toEqual(Buffer.from('-5'));
    for (const v of ['007', 'true', '1e3', '']) {
      expect((await kv('put', 'v', v)).code).toBe(0);
      expect(await serverValue('v')).toEqual(Buffer.from(v));
    }
    expect((await kv('put', 'dash', '--', '-')).code).toBe(0);
    expect(await serverValue('dash')).toEqual(Buffer.from('-'));
  });

  it('reads the host and port from KV_HOST and KV_PORT', async () => {
    server = await startTestServer({ logOps: false });
    const r = await kvTcp(['ping'], { env: { KV_HOST: '127.0.0.1', KV_PORT: String(server.tcpPort) } });
    expect([r.code, r.stdout.toString()]).toEqual([0, 'PONG\n']);
  });
});

describe('kv-tcp --json', () => {
  it('prints one JSON object: UTF-8 values as text, other bytes as base64', async () => {
    const kv = await withServer();
    expect(json(await kv('--json', 'put', 'k', 'héllo'))).toEqual({ command: 'put', key: 'k', result: 'OK' });
    expect(json(await kv('--json', 'get', 'k'))).toEqual({ command: 'get', key: 'k', found: true, value: 'héllo', encoding: 'utf8' });

    const binary = Buffer.from([0xff, 0x00, 0x0a, 0xc3]);
    await kvTcp(['--port', String(server?.tcpPort), 'put', 'bin', '-'], { input: binary });
    const got = json(await kv('--json', 'get', 'bin'));
    expect(got).toEqual({ command: 'get', key: 'bin', found: true, value: binary.toString('base64'), encoding: 'base64' });

    const missing = await kv('--json', 'get', 'nope');
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(json(missing)).toEqual({ command: 'get', key: 'nope', found: false });

    expect(json(await kv('--json', 'del', 'k'))).toEqual({ command: 'del', key: 'k', deleted: 1 });
    expect(json(await kv('--json', 'ping'))).toMatchObject({ command: 'ping', result: 'PONG' });
    const stats = json(await kv('--json', 'stats')) as { sections: Record<string, Record<string, unknown>> };
    expect(stats.sections.keyspace).toEqual({ db0: 'keys=1,expires=0,avg_ttl=0' });
  });

  it('prints errors as JSON too, with their stable code', async () => {
    const port = await freePort();
    const r = await kvTcp(['--port', String(port), '--json', 'get', 'k']);
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(json(r)).toMatchObject({ command: 'get', error: { code: 'CONNECTION' } });
  });
});

describe('kv-tcp exit codes', () => {
  it('2 for bad flags, unknown commands and missing arguments, with a message on stderr', async () => {
    for (const args of [['--bogus', 'ping'], ['fly'], ['put', 'only-key'], ['get'], ['--port', '70000', 'ping'], ['--timeout', 'soon', 'ping']]) {
      const r = await kvTcp(args);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr, args.join(' ')).toMatch(/^kv-tcp: .+\nRun 'kv-tcp --help'/);
      expect(r.stdout.length).toBe(0);
    }
    const env = await kvTcp(['ping'], { env: { KV_PORT: 'abc' } });
    expect(env.code).toBe(ExitCode.USAGE);
    expect(env.stderr).toContain('KV_PORT');
  });

  it('3 when nothing listens on the port', async () => {
    const port = await freePort();
    const r = await kvTcp(['--port', String(port), 'ping']);
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(r.stderr).toMatch(new RegExp(`^kv-tcp: cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });

  it('3 when the server accepts but never answers (timeout)', async () => {
    fake = await FakeServer.start();
    const r = await kvTcp(['--port', String(fake.port), '--timeout', '200', 'get', 'k']);
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(r.stderr).toMatch(/^kv-tcp: no reply to GET from 127\.0\.0\.1:\d+ within 200 ms/);
  });

  it('4 when the server answers with an error', async () => {
    const kv = await withServer({ limits: { maxValueSize: 8 } });
    const r = await kv('put', 'k', 'more than eight bytes');
    expect(r.code).toBe(ExitCode.SERVER);
    expect(r.stderr).toMatch(/^kv-tcp: ERR value of 21 bytes is over the limit of 8 bytes/);
    const j = await kv('--json', 'put', 'k', 'more than eight bytes');
    expect(j.code).toBe(ExitCode.SERVER);
    expect(json(j)).toMatchObject({ command: 'put', error: { code: 'SERVER' } });
  });

  it('0 for --help', async () => {
    const r = await kvTcp(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/Exit codes: 0 success, 1 key not found/);
  });
});

describe('kv-tcp interactive prompt', () => {
  it('runs commands from stdin with the server dialect quoting, and exits 0 at quit', async () => {
    server = await startTestServer({ logOps: false });
    const input = [
      'put plain hello',
      'put "two words" "line\\none\\x00\\xff"',
      "get 'two words'",
      'get plain',
      'get missing',
      'exists plain missing',
      'del plain',
      'put onlykey',
      'set k v NX',
      'set k v2 NX',
      'get "unbalanced',
      '',
      'ping',
      'quit',
      'ping',
    ].join('\n');
    const r = await kvTcp(['--port', String(server.tcpPort)], { input });
    expect(r.code).toBe(0);
    expect(r.stdout.toString('utf8').split('\n')).toEqual([
      'OK',
      'OK',
      '"line\\none\\x00\\xff"',
      '"hello"',
      '(nil)',
      '(integer) 1',
      'DELETED',
      "(error) ERR wrong number of arguments for 'put' command",
      'OK',
      '(nil)',
      '(error) unbalanced quotes in the line; close every " or \' you open',
      'PONG',
      '', // the final newline; nothing after quit
    ]);
    expect(await serverValue('two words')).toEqual(Buffer.from('line\none\x00\xff', 'latin1'));
  });

  it('ends at end of input with exit 0, and speaks JSON with --json', async () => {
    server = await startTestServer({ logOps: false });
    const r = await kvTcp(['--port', String(server.tcpPort), '--json'], { input: 'put k v\nget k\ndbsize\n' });
    expect(r.code).toBe(0);
    expect(r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { command: 'put', key: 'k', result: 'OK' },
      { command: 'get', key: 'k', found: true, value: 'v', encoding: 'utf8' },
      { command: 'dbsize', reply: 1 },
    ]);
  });

  it('exits 3 when it cannot connect at the start', async () => {
    const port = await freePort();
    const r = await kvTcp(['--port', String(port)], { input: 'ping\n' });
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(r.stderr).toContain('ECONNREFUSED');
  });

  it('reports a lost server on stderr and goes on with the next command', async () => {
    server = await startTestServer({ logOps: false });
    const child = spawn(process.execPath, [CLI, '--port', String(server.tcpPort)], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    const waiters: Array<() => void> = [];
    const wake = () => waiters.splice(0).forEach((f) => f());
    child.stdout.on('data', (c: Buffer) => ((stdout += c.toString()), wake()));
    child.stderr.on('data', (c: Buffer) => ((stderr += c.toString()), wake()));
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    child.stdin.write('ping\n');
    await until(() => stdout === 'PONG\n');
    await server.stop();
    child.stdin.write('ping\n');
    await until(() => stderr.includes('kv-tcp: '));
    expect(stderr).toMatch(/connection to 127\.0\.0\.1:\d+ closed|cannot connect/);
    child.stdin.write('ping\n');
    await until(() => stderr.split('kv-tcp: ').length > 2);
    expect(stderr).toMatch(/cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);
    child.stdin.end('quit\n');
    expect(await exited).toBe(0);
  });
});

describe.skipIf(!havePeer('openssl', 'openssl'))('kv-tcp over TLS (--tls-ca, --tls-cert, --tls-key)', () => {
  let dir: string;
  let ca: TestCa;
  let cert: CertFiles;
  let client: CertFiles;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dualkv-kv-tcp-tls-'));
    ca = await makeTestCa(dir);
    cert = await ca.issue('server', 'server');
    client = await ca.issue('client', 'client');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function tlsServer(authClients: 'no' | 'yes'): Promise<string> {
    server = await startTestServer({ logOps: false, tls: { port: 0, httpsPort: null, cert: cert.cert, key: cert.key, ca: ca.cert, authClients } });
    return String(server.server.tlsPort);
  }

  it('puts and gets over TLS with the CA, and fails with exit 3 and the TLS reason without it', async () => {
    const port = await tlsServer('no');
    expect((await kvTcp(['--port', port, '--tls-ca', ca.cert, 'put', 'k', 'over tls'])).code).toBe(ExitCode.OK);
    expect((await kvTcp(['--port', port, '--tls-ca', ca.cert, '--tls-servername', 'localhost', 'get', 'k'])).stdout.toString()).toBe('over tls');
    expect(await serverValue('k')).toEqual(Buffer.from('over tls'));
    const untrusted = await kvTcp(['--port', port, '--tls', 'ping']);
    expect(untrusted.code).toBe(ExitCode.CONNECTION);
    expect(untrusted.stderr).toMatch(/the TLS handshake failed: .*check the CA \(--tls-ca\)/);
  });

  it('shows a client certificate with --tls-cert and --tls-key, and wants both', async () => {
    const port = await tlsServer('yes');
    const r = await kvTcp(['--port', port, '--tls-ca', ca.cert, '--tls-cert', client.cert, '--tls-key', client.key, 'ping']);
    expect(r).toMatchObject({ code: ExitCode.OK });
    expect((await kvTcp(['--port', port, '--tls-ca', ca.cert, '--tls-cert', client.cert, 'ping'])).code).toBe(ExitCode.USAGE);
  });
});
