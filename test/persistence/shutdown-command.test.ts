import { readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { request } from '../frontends/resp-reader.js';
import { serverFixture } from '../helpers/server.js';
import { connect, infoField, processFixture, ready, type ServerProcess } from './helpers.js';

/** The snapshot files in a data directory, by name. */
const snapshots = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.kvsnap')).sort();

/** Sends SHUTDOWN with `options` and waits for the server to exit; answers its exit code and signal. */
async function shutdown(server: ServerProcess, r: Redis, ...options: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const closed = new Promise<void>((resolve) => r.once('close', () => resolve()));
  r.call('SHUTDOWN', ...options).catch(() => undefined);
  await closed;
  const { code, signal } = await server.exited;
  return { code, signal };
}

/** SHUTDOWN (issue 12): a real kv-server stops as on SIGTERM, keeping every write; refused where it cannot apply. */
describe('SHUTDOWN', () => {
  const fx = processFixture();

  it('stops the server cleanly with no reply, as Redis; every write is there after a restart', async () => {
    const server = await fx.spawn(fx.dir, []);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    await r.mset('a', '1', 'b', '2');
    // ioredis's shutdown() resolves when the connection closes; a reply would be an error here.
    const closed = new Promise<void>((resolve) => r.once('close', () => resolve()));
    r.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    await closed;
    const { code, signal } = await server.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(server.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SHUTDOWN' });
    const again = await fx.spawn(fx.dir, []);
    const c = await ready(connect(again.tcpPort));
    fx.clients.push(c);
    expect(await c.mget('a', 'b')).toEqual(['1', '2']);
    await again.kill('SIGTERM');
  });

  it('NOSAVE writes no final snapshot; the flushed log has every write, and the next start replays it', async () => {
    // No timer snapshots: the only snapshot a stop could write is the final one.
    const server = await fx.spawn(fx.dir, ['--snapshot-interval', '0']);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    await r.mset('a', '1', 'b', '2', 'c', '3');
    await r.del('c');
    await r.incrby('a', 41);
    await r.set('t', 'v', 'EX', 3600);
    expect(snapshots(fx.dir)).toEqual([]);
    expect(await shutdown(server, r, 'NOSAVE')).toEqual({ code: 0, signal: null });
    expect(server.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SHUTDOWN', finalSnapshot: 'skip' });
    expect(server.lines.filter((l) => l.msg === 'snapshot started' || l.msg === 'snapshot written')).toEqual([]);
    expect(snapshots(fx.dir)).toEqual([]);

    const again = await fx.spawn(fx.dir, ['--snapshot-interval', '0']);
    const c = await ready(connect(again.tcpPort));
    fx.clients.push(c);
    expect(await c.mget('a', 'b', 'c', 't')).toEqual(['42', '2', null, 'v']);
    expect(Number(await c.ttl('t'))).toBeGreaterThan(3500);
    // From the log: six records replayed, no snapshot loaded.
    expect(await infoField(c, 'load_log_records')).toBe('6');
    expect(again.lines.find((l) => l.msg === 'data loaded')).toMatchObject({ snapshot: null, snapshotKeys: 0, logRecords: 6, keys: 3 });
    await again.kill('SIGTERM');
  });

  it('SAVE writes a final snapshot even when nothing changed since the last; plain SHUTDOWN then writes none', async () => {
    const server = await fx.spawn(fx.dir, ['--snapshot-interval', '0']);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    await r.mset('a', '1', 'b', '2');
    expect(await r.save()).toBe('OK');
    const saved = snapshots(fx.dir);
    expect(saved).toHaveLength(1);
    expect(await shutdown(server, r, 'SAVE')).toEqual({ code: 0, signal: null });
    expect(server.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SHUTDOWN', finalSnapshot: 'force' });
    expect(server.lines.find((l) => l.msg === 'snapshot written' && l.reason === 'SHUTDOWN SAVE')).toMatchObject({ keys: 2 });
    const forced = snapshots(fx.dir);
    expect(forced).toHaveLength(1);
    expect(forced).not.toEqual(saved);

    // The default, with nothing changed since that snapshot: no new one (SIGTERM's behaviour, unchanged).
    const again = await fx.spawn(fx.dir, ['--snapshot-interval', '0']);
    const c = await ready(connect(again.tcpPort));
    fx.clients.push(c);
    expect(await c.mget('a', 'b')).toEqual(['1', '2']);
    expect(again.lines.find((l) => l.msg === 'data loaded')).toMatchObject({ snapshotKeys: 2, logRecords: 0 });
    expect(await shutdown(again, c)).toEqual({ code: 0, signal: null });
    expect(again.lines.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SHUTDOWN', finalSnapshot: 'default' });
    expect(again.lines.filter((l) => l.msg === 'snapshot written')).toEqual([]);
    expect(snapshots(fx.dir)).toEqual(forced);

    const third = await fx.spawn(fx.dir, ['--snapshot-interval', '0']);
    const d = await ready(connect(third.tcpPort));
    fx.clients.push(d);
    expect(await d.mget('a', 'b')).toEqual(['1', '2']);
    await third.kill('SIGTERM');
  });

  it('refuses bad options, and ABORT with no stop under way', async () => {
    const server = await fx.spawn(fx.dir, []);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    for (const args of [['NOSAVE', 'SAVE'], ['LATER'], ['ABORT', 'NOW']]) await expect(r.call('SHUTDOWN', ...args)).rejects.toThrow('ERR syntax error');
    await expect(r.call('SHUTDOWN', 'ABORT')).rejects.toThrow('ERR No shutdown in progress.');
    expect(await r.ping()).toBe('PONG');
    await server.kill('SIGTERM');
  });
});

describe('SHUTDOWN where the host stops the server, and inside MULTI', () => {
  const fx = serverFixture();

  it('an embedded server refuses it; inside MULTI it is refused while queueing, as SAVE is, and EXEC aborts', async () => {
    const c = await fx.connect();
    expect((await request(c, 'SHUTDOWN')).value).toEqual({ error: 'ERR SHUTDOWN is not available here: this server runs embedded, and its host stops it' });
    expect((await request(c, 'MULTI')).value).toEqual({ status: 'OK' });
    expect((await request(c, 'SET', 'k', 'v')).value).toEqual({ status: 'QUEUED' });
    expect((await request(c, 'SHUTDOWN')).value).toEqual({ error: 'ERR Command not allowed inside a transaction' });
    expect((await request(c, 'SAVE')).value).toEqual({ error: 'ERR Command not allowed inside a transaction' });
    expect((await request(c, 'EXEC')).value).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' });
    expect(fx.srv.server.backend.dbsize()).toBe(0);
  });
});
