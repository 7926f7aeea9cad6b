import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../clients/lib/cli-exit-codes.js';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import type { TestServer } from '../helpers/server.js';
import { failoverServers } from './failover-servers.js';
import { freePort } from './tcp-helpers.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/clients/kv-tcp.js');

const { server, valueAt } = failoverServers();
const closers: Array<() => Promise<void>> = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  for (const close of closers.splice(0)) await close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kvTcp(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, KV_HOST: '', KV_PORT: '', KV_SERVERS: '', ...opts.env };
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })));
}

async function putAt(s: TestServer, key: string, value: string): Promise<void> {
  const c = await TcpClient.connect({ port: s.tcpPort });
  try {
    await c.set(key, value);
  } finally {
    await c.close();
  }
}

/**
 * A proxy that forwards what the client sends to `port`, and when the server's
 * reply comes back drops the client's connection instead of passing it on: the
 * command ran, and the client never hears how.
 */
async function droppingProxy(port: number): Promise<{ port: number; forwarded: () => number }> {
  let forwarded = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect({ host: '127.0.0.1', port });
    sockets.add(upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('data', (d: Buffer) => {
      forwarded++;
      upstream.write(d);
    });
    upstream.on('data', () => {
      client.destroy();
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
  return { port: (srv.address() as net.AddressInfo).port, forwarded: () => forwarded };
}

const at = (port: number) => `127.0.0.1:${port}`;

describe('kv-tcp with several servers', () => {
  it('passes over a server that refuses the connection and runs the write on the next', async () => {
    const dead = await freePort();
    const live = await server();
    const r = await kvTcp(['--server', at(dead), '--server', at(live.tcpPort), 'put', 'k', 'v']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stdout).toBe('OK\n');
    expect(r.stderr).toContain(`cannot connect to ${at(dead)}`);
    expect(await valueAt(live, 'k')).toBe('v');
  });

  it('reads the list from KV_SERVERS, comma-separated, and says in --json which server answered', async () => {
    const dead = await freePort();
    const live = await server();
    await putAt(live, 'k', 'there');
    const r = await kvTcp(['--json', 'get', 'k'], { env: { KV_SERVERS: `${at(dead)},${at(live.tcpPort)}` } });
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'get', found: true, value: 'there', server: at(live.tcpPort) });
  });

  it('fails with exit 3 naming every server when none can be reached', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const r = await kvTcp(['--server', `${at(a)},${at(b)}`, 'get', 'k']);
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(r.stderr).toContain('none of the 2 servers could be reached');
    expect(r.stderr).toContain(at(a));
    expect(r.stderr).toContain(at(b));
  });

  it('reports a write whose connection dropped after it was sent as in doubt (exit 5), and does not resend it', async () => {
    const first = await server();
    const second = await server();
    const proxy = await droppingProxy(first.tcpPort);
    const r = await kvTcp(['--json', '--server', at(proxy.port), '--server', at(second.tcpPort), 'put', 'k', 'v']);
    expect(r.code).toBe(ExitCode.IN_DOUBT);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'put', error: { code: 'IN_DOUBT' } });
    expect(r.stderr).toMatch(/may or may not have been applied/);
    // It was applied behind the proxy, and never sent to the second server.
    expect(await valueAt(first, 'k')).toBe('v');
    expect(await valueAt(second, 'k')).toBeNull();
  });

  it('resends a read whose connection dropped to the next server', async () => {
    const first = await server();
    const second = await server();
    await putAt(first, 'k', 'from-first');
    await putAt(second, 'k', 'from-second');
    const proxy = await droppingProxy(first.tcpPort);
    const r = await kvTcp(['--server', at(proxy.port), '--server', at(second.tcpPort), 'get', 'k']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stdout).toBe('from-second');
    expect(proxy.forwarded()).toBe(1);
    expect(r.stderr).toContain(`sending GET again to ${at(second.tcpPort)}`);
  });

  it('follows the same rules at the prompt: a write in doubt is shown and not resent, a read fails over, the session goes on', async () => {
    const first = await server();
    const second = await server();
    await putAt(second, 'n', 'second-n');
    const proxy = await droppingProxy(first.tcpPort);
    const r = await kvTcp(['--server', at(proxy.port), '--server', at(second.tcpPort)], { input: 'set k v\nexists n\nget n\n' });
    expect(r.code).toBe(ExitCode.OK);
    expect(r.stderr).toMatch(/SET was sent to .* may or may not have been applied/);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['(integer) 1', '"second-n"']);
    expect(await valueAt(first, 'k')).toBe('v');
    expect(await valueAt(second, 'k')).toBeNull();
  });

  it('exits 2 for a malformed address, naming it', async () => {
    for (const [args, why] of [
      [['--server', '127.0.0.1', 'ping'], /has no port/],
      [['--server', '::1:7379', 'ping'], /without brackets/],
      [['--server', 'h:1', '--port', '2', 'ping'], /not both/],
    ] as const) {
      const r = await kvTcp([...args]);
      expect(r.code).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(why);
    }
    const env = await kvTcp(['ping'], { env: { KV_SERVERS: 'h:1,' } });
    expect(env.code).toBe(ExitCode.USAGE);
    expect(env.stderr).toMatch(/KV_SERVERS: .*empty entry/);
  });
});
