import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { decodeReply, encodeRequest, Opcode, Status } from '../../src/protocol/datagram.js';
import { serverFixture, type TestServer } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request } from './resp-reader.js';
import { RawUdp } from './udp-helpers.js';

/**
 * Change notifications (issue 13 point 4, docs/HTTP.md §6, CHANGES in docs/PROTOCOL.md):
 * one watch facility, reached by a RESP client (CHANGES … BLOCK), an HTTP long-poll (a key
 * or a prefix) and an SSE stream, and fed by writes over TCP, UDP and HTTP.
 */

/** Reads an SSE stream's events until `n` have come (or the stream ends). */
function sse(url: string, n: number, onOpen?: () => void): Promise<Array<{ id: string; event: string; data: Record<string, string> }>> {
  return new Promise((resolve, reject) => {
    const events: Array<{ id: string; event: string; data: Record<string, string> }> = [];
    const req = http.get(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      onOpen?.();
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          if (block.startsWith(':')) continue;
          const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
          events.push({ id: fields.id ?? '', event: fields.event ?? '', data: JSON.parse(fields.data ?? '{}') as Record<string, string> });
          if (events.length >= n) {
            req.destroy();
            resolve(events);
          }
        }
      });
      res.on('end', () => resolve(events));
    });
    req.on('error', (err) => (events.length >= n ? undefined : reject(err)));
  });
}

describe('watching for changes', () => {
  const fx = serverFixture();
  const start = () => fx.start({ httpPort: 0 });
  const base = (srv: TestServer) => `http://127.0.0.1:${srv.server.httpPort}`;

  async function udpPut(srv: TestServer, key: string, value: string): Promise<void> {
    const u = await RawUdp.open();
    const reply = decodeReply(await u.roundTrip(encodeRequest({ opcode: Opcode.PUT, id: 1, key, value }), srv.udpPort));
    expect(reply.status).toBe(Status.OK);
    u.close();
  }

  it('a change made over TCP, UDP and HTTP reaches an SSE watcher of the prefix, in order, and no other key does', async () => {
    const srv = await start();
    const resp = await RawClient.connect(srv.tcpPort);
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const got = sse(`${base(srv)}/v1/changes?prefix=cfg%2F`, 4, opened);
    await open;
    await request(resp, 'SET', 'cfg/a', '1');
    await request(resp, 'SET', 'elsewhere', 'x');
    await udpPut(srv, 'cfg/b', '2');
    await fetch(`${base(srv)}/v1/kv/cfg/c`, { method: 'PUT', body: '3' });
    await request(resp, 'DEL', 'cfg/a');
    const events = await got;
    expect(events.map((e) => [e.event, e.data.key])).toEqual([
      ['put', 'cfg/a'],
      ['put', 'cfg/b'],
      ['put', 'cfg/c'],
      ['del', 'cfg/a'],
    ]);
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    resp.close();
  });

  it('a long-poll of a prefix and the opening of an SSE stream are each one CHANGES: an op line and a command in INFO, as over TCP', async () => {
    const srv = await start();
    await fetch(`${base(srv)}/v1/kv/cfg/a`, { method: 'PUT', body: '1' });
    const page = await fetch(`${base(srv)}/v1/changes?prefix=cfg%2F`);
    expect(page.status).toBe(200);
    const events = await sse(`${base(srv)}/v1/changes?prefix=cfg%2F`, 1);
    expect(events.map((e) => e.data.key)).toEqual(['cfg/a']);
    const ops = srv.logs.find('op').map((l) => [l.transport, l.cmd]);
    expect(ops).toEqual([
      ['http', 'PUT'],
      ['http', 'CHANGES'],
      ['http', 'CHANGES'],
    ]);
    expect(srv.server.ctx.info().commandstats?.cmdstat_changes).toMatch(/^calls=2,/);
  });

  it('misses nothing between a read and the watch that follows it: a watch from the version read answers at once', async () => {
    const srv = await start();
    const put = await fetch(`${base(srv)}/v1/kv/k`, { method: 'PUT', body: 'v1' });
    const etag = (put.headers.get('etag') as string).replace(/"/g, '');
    // Another client writes after our read, before our watch.
    await fetch(`${base(srv)}/v1/kv/k`, { method: 'PUT', body: 'v2' });
    const t0 = Date.now();
    const r = await fetch(`${base(srv)}/v1/kv/k?wait=30s&index=${etag}`);
    expect(await r.text()).toBe('v2');
    expect(Date.now() - t0).toBeLessThan(20_000); // not the 30 s wait: it was answered at once
    // And a listing's revision, watched from, gives the change made after it.
    const list = await fetch(`${base(srv)}/v1/kv?prefix=k`);
    const revision = list.headers.get('x-dualkv-revision') as string;
    await fetch(`${base(srv)}/v1/kv/k2`, { method: 'PUT', body: 'x' });
    const page = (await (await fetch(`${base(srv)}/v1/changes?prefix=k&since=${revision}&wait=30s`)).json()) as { changes: Array<{ key: string; op: string }> };
    expect(page.changes.map((c) => c.key)).toEqual(['k2']);
  });

  it('a long-poll on a key waits until it changes (over TCP here), then answers the new value and version', async () => {
    const srv = await start();
    const put = await fetch(`${base(srv)}/v1/kv/k`, { method: 'PUT', body: 'old' });
    const version = (put.headers.get('etag') as string).replace(/"/g, '');
    let settled = false;
    const waiting = fetch(`${base(srv)}/v1/kv/k?wait=30s&index=${version}`).then(async (r) => {
      settled = true;
      return { body: await r.text(), etag: r.headers.get('etag') };
    });
    // It is still waiting after other keys change.
    const resp = await RawClient.connect(srv.tcpPort);
    await request(resp, 'SET', 'other', 'x');
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await request(resp, 'SET', 'k', 'new');
    const got = await waiting;
    expect(got.body).toBe('new');
    expect(got.etag).not.toBe(`"${version}"`);
    resp.close();
  });

  it('CHANGES over RESP lists the changes after a revision, and with BLOCK waits for the next one', async () => {
    const srv = await start();
    const c = await RawClient.connect(srv.tcpPort);
    await request(c, 'SET', 'a', '1');
    await request(c, 'SET', 'b', '2');
    const all = (await request(c, 'CHANGES', '0')).value as [number, number, Array<[string, string, number]>];
    expect(all[1]).toBe(0);
    expect(all[2].map(([op, key]) => [op, key])).toEqual([
      ['put', 'a'],
      ['put', 'b'],
    ]);
    const rev = all[0];
    const blocked = request(c, 'CHANGES', String(rev), 'PREFIX', 'w', 'BLOCK', '30000');
    await fetch(`${base(srv)}/v1/kv/x`, { method: 'PUT', body: 'not this one' });
    await fetch(`${base(srv)}/v1/kv/watched`, { method: 'PUT', body: 'this one' });
    const next = (await blocked).value as [number, number, Array<[string, string, number]>];
    expect(next[2].map(([op, key]) => [op, key])).toEqual([['put', 'watched']]);
    expect((await request(c, 'CHANGES', 'x')).value).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect((await request(c, 'CHANGES', '0', 'BOGUS', '1')).value).toEqual({ error: 'ERR syntax error' });
    c.close();
  });

  it('a transaction reaches a watcher whole: one wake-up with all of its changes', async () => {
    const srv = await start();
    const c = await RawClient.connect(srv.tcpPort);
    const w = await RawClient.connect(srv.tcpPort);
    const rev = (await request(c, 'CHANGES', '0')).value as [number];
    const blocked = request(w, 'CHANGES', String(rev[0]), 'PREFIX', 't', 'BLOCK', '30000');
    await request(c, 'MULTI');
    await request(c, 'SET', 't1', 'a');
    await request(c, 'SET', 't2', 'b');
    await request(c, 'EXEC');
    const page = (await blocked).value as [number, number, Array<[string, string, number]>];
    expect(page[2].map(([, key]) => key)).toEqual(['t1', 't2']);
    c.close();
    w.close();
  });

  it('an SSE reader that does not read is dropped once over its bound, with a last event saying why', { timeout: 60_000 }, async () => {
    const srv = await start();
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const done = new Promise<{ ended: boolean; tail: string }>((resolve) => {
      const req = http.get(`${base(srv)}/v1/changes`, { headers: { Accept: 'text/event-stream' } }, (res) => {
        opened();
        // Read nothing for a while: the server's buffer for this client fills.
        res.pause();
        let tail = '';
        setTimeout(() => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => (tail = (tail + d).slice(-400)));
          res.resume();
        }, 3000);
        res.on('end', () => resolve({ ended: true, tail }));
        res.on('error', () => resolve({ ended: true, tail }));
        res.on('close', () => resolve({ ended: true, tail }));
      });
      req.on('error', () => resolve({ ended: true, tail: '' }));
    });
    // Once the stream watches (from then on the whole history is kept): many changes, with long keys, in turns so that the stream gets its pages.
    await open;
    const key = 'k'.repeat(900);
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 500; i++) srv.server.backend.put(`${key}${i}`, 'v');
      await new Promise((r) => setImmediate(r));
    }
    const out = await done;
    expect(out.ended).toBe(true);
    expect(out.tail).toMatch(/event: dropped\ndata: \{"reason":"over 1048576 bytes of events not taken by the client"/);
  });
});

describe('watchers at shutdown', () => {
  const fx = serverFixture();

  it('a server with a long-poll and an SSE stream open stops within a few seconds, ending both', { timeout: 30_000 }, async () => {
    const srv = await fx.start({ httpPort: 0 });
    const base = `http://127.0.0.1:${srv.server.httpPort}`;
    const poll = fetch(`${base}/v1/changes?since=${srv.server.backend.revisionNow()}&wait=5m`).then(
      () => 'answered',
      () => 'cut',
    );
    const stream = new Promise<string>((resolve) => {
      http.get(`${base}/v1/changes`, { headers: { Accept: 'text/event-stream' } }, (res) => {
        res.resume();
        res.on('close', () => resolve('ended'));
      });
    });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await srv.stop();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await stream).toBe('ended');
    expect(['answered', 'cut']).toContain(await poll);
  });
});
