import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpClient } from '../../clients/lib/tcp-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/clients/kv-bench.js');
const servers: TestServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function kvBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KV_SERVERS: '' } });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })));
}

async function twoServers(): Promise<[TestServer, TestServer]> {
  for (let i = 0; i < 2; i++) servers.push(await startTestServer({ logOps: false }));
  return servers as [TestServer, TestServer];
}

async function dbsize(s: TestServer): Promise<number> {
  const c = await TcpClient.connect({ port: s.tcpPort });
  try {
    return (await c.command(['DBSIZE'])) as number;
  } finally {
    await c.close();
  }
}

interface ServerFigures {
  target: string;
  connections: number;
  inflight: number;
  sent: number;
  ok: number;
  errors: number;
}

describe('kv-bench with several servers', () => {
  it('spreads TCP connections round-robin over the servers and reports each one, adding up to the total', async () => {
    const [a, b] = await twoServers();
    const r = await kvBench(['--server', `127.0.0.1:${a.tcpPort},127.0.0.1:${b.tcpPort}`, '-c', '4', '--threads', '2', '-n', '400', '--warmup', '0', '--ratio', '0:1:0', '--keys', '50', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { target: string; sent: number; ok: number; servers: ServerFigures[] };
    expect(j.target).toBe(`127.0.0.1:${a.tcpPort},127.0.0.1:${b.tcpPort}`);
    expect(j.servers.map((s) => [s.target, s.connections])).toEqual([
      [`127.0.0.1:${a.tcpPort}`, 2],
      [`127.0.0.1:${b.tcpPort}`, 2],
    ]);
    for (const s of j.servers) expect(s.ok).toBeGreaterThan(0);
    expect(j.servers.reduce((x, s) => x + s.sent, 0)).toBe(j.sent);
    expect(j.servers.reduce((x, s) => x + s.ok, 0)).toBe(j.ok);
    // The PUTs really reached both servers.
    expect(await dbsize(a)).toBeGreaterThan(0);
    expect(await dbsize(b)).toBeGreaterThan(0);
  });

  it('spreads UDP requests in flight over the servers, and prints a per-server table', async () => {
    const [a, b] = await twoServers();
    const r = await kvBench(['--transport', 'udp', '--server', `127.0.0.1:${a.udpPort}`, '--server', `127.0.0.1:${b.udpPort}`, '--inflight', '4', '--threads', '1', '-n', '300', '--warmup', '0', '--ratio', '0:1:0', '--keys', '50']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^server\\s+in flight\\s+sent`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${a.udpPort}\\s+2\\s`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${b.udpPort}\\s+2\\s`, 'm'));
    expect(await dbsize(a)).toBeGreaterThan(0);
    expect(await dbsize(b)).toBeGreaterThan(0);
  });

  it('exits 2 when there are fewer connections than servers, or for a malformed --server', async () => {
    const few = await kvBench(['--server', '127.0.0.1:1,127.0.0.1:2,127.0.0.1:3', '-c', '2', '--threads', '1']);
    expect(few.code).toBe(2);
    expect(few.stderr).toMatch(/fewer than the 3 servers/);
    const bad = await kvBench(['--server', '127.0.0.1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/has no port/);
  });
});
