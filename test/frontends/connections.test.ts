import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requireBuilt, ServerProcess } from '../helpers/process.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { multibulk, readReplies, respReplies } from './resp-reader.js';

describe('TCP connections', () => {
  const fx = serverFixture();
  const connect = () => fx.connect();

  it('--timeout closes a client idle that long, and only that one', async () => {
    const srv = await fx.start({ limits: { idleTimeoutSec: 2 } });
    const idle = await connect();
    const busy = await connect();
    expect(await idle.text('PING')).toEqual(['PONG']);
    // The busy one talks every 200 ms, and stays; the idle one is closed after 2 s of silence.
    const closed = idle.waitClosed();
    let alive = true;
    void closed.then(() => (alive = false));
    for (let i = 0; i < 100 && alive; i++) {
      expect(await busy.text('PING')).toEqual(['PONG']);
      busy.clear();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 200))]);
    }
    await closed;
    expect(busy.closed).toBe(false);
    expect(srv.server.stats.idleDisconnects).toBe(1);
    expect(srv.logs.find('closing an idle client (--timeout)')).toHaveLength(1);
    const resp = await connect();
    resp.write(multibulk('CONFIG', 'GET', 'timeout'));
    expect(await respReplies(resp, 1)).toEqual([['timeout', '2']]);
  });

  it('a client that sends its FIN right after a pipeline still gets every reply, then a clean close', async () => {
    const srv = await fx.start();
    const big = 'b'.repeat(64 * 1024);
    srv.server.backend.put('big', big);
    const c = await connect();
    c.socket.pause(); // not reading yet: the replies (6.4 MB) cannot all be written before the FIN arrives
    const N = 100;
    c.socket.end(Buffer.concat(Array.from({ length: N }, () => multibulk('GET', 'big'))));
    await srv.logs.waitFor('reading paused: the client is not taking its replies');
    c.socket.resume();
    await c.waitClosed();
    const { values, end } = readReplies(c.received);
    expect(values).toEqual(Array.from({ length: N }, () => big));
    expect(end).toBe(c.received.length);
    expect(srv.logs.find('client socket error')).toHaveLength(0);
  });

  it('refused connections are counted, and logged at most 10 lines a second', async () => {
    const srv = await fx.start({ limits: { maxConnections: 1 } });
    const first = await connect();
    expect(await first.text('PING')).toEqual(['PONG']);
    const refused: RawClient[] = [];
    for (let i = 0; i < 40; i++) refused.push(await connect());
    await Promise.all(refused.map((c) => c.until((r) => r.includes('\r\n'))));
    for (const c of refused) expect(c.received).toBe('-ERR max number of clients reached (--max-connections 1)\r\n');
    expect(srv.server.stats.connectionsRejected).toBe(40);
    const lines = srv.logs.find('connection refused: max connections reached');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(20); // 40 refusals in well under two seconds
  });
});

describe('--max-connections and the open-files limit', () => {
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const clients: RawClient[] = [];
  beforeAll(() => requireBuilt());
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of procs.splice(0)) await p.kill();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is lowered to fit `ulimit -n`, with a warning at start, and clients past it get an error instead of a silent close', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dualkv-fd-'));
    dirs.push(dir);
    const proc = ServerProcess.spawn(['--port', '0', '--data-dir', path.join(dir, 'data'), '--log-dir', path.join(dir, 'logs'), '--max-connections', '10000'], {
      prelude: 'ulimit -n 96 &&',
    });
    procs.push(proc);
    const { tcpPort } = await proc.listening();
    const warn = proc.find('--max-connections lowered to fit the open-files limit')[0];
    expect(warn).toMatchObject({ maxConnections: 10000, reason: 'the open-files limit is 96 (ulimit -n); raise it to allow 10000 clients' });
    const effective = warn?.effective as number;
    expect(effective).toBeGreaterThan(0);
    expect(effective).toBeLessThan(96 - 32);

    const c = await RawClient.connect(tcpPort);
    clients.push(c);
    c.write(multibulk('CONFIG', 'GET', 'maxclients'));
    expect(await respReplies(c, 1)).toEqual([['maxclients', String(effective)]]);
    // Fill every slot, then one more: it is told why, where the fd limit would have dropped it silently.
    for (let i = 1; i < effective; i++) {
      const more = await RawClient.connect(tcpPort);
      clients.push(more);
    }
    const extra = await RawClient.connect(tcpPort);
    clients.push(extra);
    expect(await extra.until((r) => r.includes('\r\n'))).toBe(`-ERR max number of clients reached (--max-connections ${effective})\r\n`);
    c.clear();
    c.write(multibulk('PING'));
    expect(await respReplies(c, 1)).toEqual([{ status: 'PONG' }]);
  });
});
