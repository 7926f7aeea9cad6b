import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuilt, ServerProcess } from '../helpers/process.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';

const MiB = 1024 * 1024;

/** Waits until `cond` holds, checking on each turn of the event loop; fails after `ms`. */
async function waitUntil(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}


describe('query buffer (--max-query-buffer)', () => {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const sockets: net.Socket[] = [];
  beforeAll(() => requireBuilt());
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const p of procs.splice(0)) await p.kill();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('cuts a client whose unfinished multibulk of 1 MiB arguments passes the limit, with an error; RSS stays bounded', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-qbuf-'));
    dirs.push(dir);
    const proc = ServerProcess.spawn(['--port', '0', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), '--no-persistence']);
    procs.push(proc);
    const { tcpPort } = await proc.listening();
    const rssBefore = proc.rss();

    // EXISTS with 2501 keys of 1 MiB each, sent and never finished: 2.4 GiB if it were all held.
    const sock = net.connect({ port: tcpPort, host: '127.0.0.1' });
    sockets.push(sock);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    let received = '';
    sock.on('data', (d: Buffer) => (received += d.toString('latin1')));
    sock.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    const arg = Buffer.concat([Buffer.from(`$${MiB}\r\n`), Buffer.alloc(MiB, 0x61), Buffer.from('\r\n')]);
    let sent = 0;
    let peakRss = rssBefore;
    let open = true;
    void closed.then(() => (open = false));
    sock.write('*2502\r\n$6\r\nEXISTS\r\n');
    // Bounded: at most 400 arguments (400 MiB), stopping once the server cuts the connection.
    for (let i = 0; i < 400 && open; i++) {
      if (!sock.write(arg)) await Promise.race([new Promise<void>((resolve) => sock.once('drain', () => resolve())), closed]);
      sent += arg.length;
      if (i % 8 === 0) peakRss = Math.max(peakRss, proc.rss());
    }
    await closed;
    expect(received).toBe(
      '-ERR query buffer limit reached: an unfinished request holds more than 67108864 bytes (raise --max-query-buffer); closing the connection\r\n',
    );
    // Cut near the 64 MiB limit, long before the 400 MiB the client would have sent.
    expect(sent).toBeLessThan(200 * MiB);
    peakRss = Math.max(peakRss, proc.rss());
    expect(peakRss - rssBefore).toBeLessThan(256 * MiB);
    await proc.until((lines) => lines.some((l) => l.msg === 'client query buffer limit reached; closing the connection'), 'the warning');
    // The server goes on serving.
    const c = await RawClient.connect(tcpPort);
    expect(await c.text('PING')).toEqual(['PONG']);
    c.close();
  });
});

describe('all clients together (--maxmemory-clients)', () => {
  const fx = serverFixture();
  const connect = () => fx.connect();

  it('40 clients that never read are cut, the largest first, until the total fits; readers are served', async () => {
    const CAP = 8 * MiB;
    const s = await fx.start({ memory: { policy: 'noeviction', samples: 5, maxmemory: 0, maxmemoryClients: CAP } });
    s.server.backend.put('big', 'b'.repeat(256 * 1024));
    const reader = await connect();
    const idle: RawClient[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await connect();
      c.socket.pause(); // never reads
      c.write(Buffer.concat(Array.from({ length: 64 }, () => multibulk('GET', 'big'))));
      idle.push(c);
    }
    // Each holds up to the 1 MiB pause mark and a reply more: ~50 MiB in all, over the 8 MiB cap.
    const line = await s.logs.waitFor('client memory limit reached (--maxmemory-clients); disconnecting the client holding the most');
    expect(line.limit).toBe(CAP);
    expect(line.bytes as number).toBeGreaterThan(0);
    // (The cut clients, paused, do not see their sockets close until they read: count on the server.)
    await waitUntil(() => s.server.stats.evictedClients > 5, 'several clients are cut');
    expect(s.server.stats.evictedClients).toBeLessThan(40); // only as many as it took
    expect(s.server.memory.section().mem_clients_normal as number).toBeLessThanOrEqual(CAP);
    expect(await reader.text('PING')).toEqual(['PONG']);
    const info = (await reader.text('STATS'))[0] ?? '';
    expect(info).toMatch(/ evicted_clients=\d+/);
  });

  it('cuts the client holding the most (a half-sent 3 MB value) and leaves the small ones', async () => {
    const s = await fx.start({ limits: { maxValueSize: 8 * MiB }, memory: { policy: 'noeviction', samples: 5, maxmemory: 0, maxmemoryClients: 3 * MiB } });
    const small: RawClient[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await connect();
      // An unfinished SET of 100 kB: held as query buffer.
      c.write(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n'), Buffer.alloc(100_000, 0x73)]));
      small.push(c);
    }
    await waitUntil(() => (s.server.memory.section().mem_clients_normal as number) >= 1_000_000, 'the server holds the small requests');
    const big = await connect();
    // 2.9 MB of a 3 MB value: with the 1 MB of the small ones, over the 3 MiB cap.
    big.write(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$3000000\r\n'), Buffer.alloc(2_900_000, 0x62)]));
    await big.waitClosed();
    expect(s.server.stats.evictedClients).toBe(1);
    const line = await s.logs.waitFor('client memory limit reached (--maxmemory-clients); disconnecting the client holding the most');
    expect(line.bytes as number).toBeGreaterThan(2 * MiB);
    // The small ones finish their SETs.
    for (const c of small) {
      c.write(Buffer.concat([Buffer.alloc(100_000, 0x73), Buffer.from('\r\n')]));
      expect(await respReplies(c, 1)).toEqual([{ status: 'OK' }]);
    }
  });
});
