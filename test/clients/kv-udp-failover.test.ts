import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../clients/lib/cli-exit-codes.js';
import { Opcode, UdpClient } from '../../clients/lib/udp-client.js';
import { decodeRequest } from '../../src/protocol/datagram.js';
import { failoverServers } from './failover-servers.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/clients/kv-udp.js');

const { server, valueAt } = failoverServers();
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kvUdp(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, KV_HOST: '', KV_PORT: '', KV_SERVERS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function bind(s: dgram.Socket): Promise<number> {
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => s.close(() => resolve())));
  return s.address().port;
}

/**
 * A UDP stand-in for a gateway that records the request ID of every datagram it
 * gets. Without `upstream` it never answers (a gateway that is down or cut off);
 * with it, it forwards to that port and relays the reply back from its own address.
 */
async function recorder(upstream?: number): Promise<{ port: string; ids: number[] }> {
  const ids: number[] = [];
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: dgram.RemoteInfo | null = null;
  front.on('message', (msg, rinfo) => {
    ids.push(decodeRequest(msg).id);
    client = rinfo;
    if (upstream !== undefined) back.send(msg, upstream, '127.0.0.1');
  });
  back.on('message', (msg) => {
    if (client) front.send(msg, client.port, client.address);
  });
  const port = await bind(front);
  await bind(back);
  return { port: `127.0.0.1:${port}`, ids };
}

describe('kv-udp with several servers', () => {
  it('resends after a timeout to the next server with the same request ID', async () => {
    const live = await server();
    const silent = await recorder();
    const relay = await recorder(live.udpPort);
    const r = await kvUdp(['--json', '--verbose', '--timeout', '50', '--server', `${silent.port},${relay.port}`, 'put', 'k', 'v']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'put', result: 'OK', attempts: 2, server: relay.port });
    expect(silent.ids).toHaveLength(1);
    expect(relay.ids).toEqual(silent.ids);
    expect(r.stderr).toContain(`attempt 2 after a timeout to ${relay.port}`);
    expect(await valueAt(live, 'k')).toBe('v');
  });

  it('gives up with exit 3 when no server answers, having tried each in turn', async () => {
    const a = await recorder();
    const b = await recorder();
    const r = await kvUdp(['--timeout', '20', '--retries', '3', '--server', a.port, '--server', b.port, 'get', 'k']);
    expect(r.code).toBe(ExitCode.CONNECTION);
    expect(r.stderr).toMatch(/no reply from udp:\/\/127\.0\.0\.1:\d+, udp:\/\/127\.0\.0\.1:\d+ to GET after 4 attempts/);
    expect(a.ids).toHaveLength(2);
    expect(b.ids).toHaveLength(2);
    expect(new Set([...a.ids, ...b.ids]).size).toBe(1);
  });

  it('passes over a server that timed out for the next request, while it cools down', async () => {
    const live = await server();
    const silent = await recorder();
    const relay = await recorder(live.udpPort);
    const at = (p: string) => ({ host: '127.0.0.1', port: Number(p.split(':')[1]) });
    const client = await UdpClient.connect({ servers: [at(silent.port), at(relay.port)], timeoutMs: 30, cooldownMs: 60_000 });
    closers.push(() => client.close());
    const first = await client.request(Opcode.PING);
    const second = await client.request(Opcode.PING);
    expect([first.attempts, first.server]).toEqual([2, relay.port]);
    expect([second.attempts, second.server]).toEqual([1, relay.port]);
    expect(silent.ids).toHaveLength(1);
    expect(relay.ids).toHaveLength(2);
  });

  it('with --spread (spread: true), starts requests at each server in turn', async () => {
    const a = await server();
    const b = await server();
    const ra = await recorder(a.udpPort);
    const rb = await recorder(b.udpPort);
    const at = (p: string) => ({ host: '127.0.0.1', port: Number(p.split(':')[1]) });
    const client = await UdpClient.connect({ servers: [at(ra.port), at(rb.port)], spread: true });
    closers.push(() => client.close());
    for (let i = 0; i < 4; i++) await client.put(`k${i}`, 'v');
    expect([ra.ids.length, rb.ids.length]).toEqual([2, 2]);
    const onA = await Promise.all([0, 1, 2, 3].map((i) => valueAt(a, `k${i}`)));
    expect(onA.filter((v) => v !== null)).toHaveLength(2);
  });

  it('exits 2 for a malformed --server', async () => {
    const r = await kvUdp(['--server', 'localhost', 'ping']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/--server: "localhost" has no port/);
  });
});
