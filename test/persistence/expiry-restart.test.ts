/**
 * Expiry and versions across a crash: the real server, killed with SIGKILL and started
 * again on the same files. A restart never extends a TTL (the files hold absolute
 * times) and never hands out a version again (the revision counter survives, even when
 * the newest writes were deletes).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { connect, processFixture, ready, type ServerProcess } from './helpers.js';

/** GETVER: [value, version], or null. */
async function getver(r: Redis, key: string): Promise<{ value: string; version: number } | null> {
  const got = (await r.call('GETVER', key)) as [string, number] | null;
  return got === null ? null : { value: got[0], version: Number(got[1]) };
}

const pexpiretime = async (r: Redis, key: string) => Number(await r.call('PEXPIRETIME', key));

describe('expiry and versions after kill -9 (--fsync always)', () => {
  const fx = processFixture();

  async function start(): Promise<{ server: ServerProcess; r: Redis }> {
    const server = await fx.spawn(fx.dir, ['--fsync', 'always', '--snapshot-interval', '0']);
    const r = await ready(connect(server.tcpPort));
    fx.clients.push(r);
    return { server, r };
  }

  async function crash(server: ServerProcess): Promise<void> {
    for (const c of fx.clients.splice(0)) c.disconnect();
    expect((await server.kill('SIGKILL')).signal).toBe('SIGKILL');
  }

  /** Writes through every path the log records: SET with and without a TTL, EXPIRE, PERSIST, and deletes last. */
  async function writeHistory(r: Redis) {
    expect(await r.set('session', 's1', 'PX', 600_000)).toBe('OK');
    expect(await r.set('plain', 'p1')).toBe('OK');
    expect(await r.set('extended', 'e1')).toBe('OK');
    expect(await r.pexpire('extended', 900_000)).toBe(1);
    expect(await r.set('persisted', 'x', 'EX', 500)).toBe('OK');
    expect(await r.persist('persisted')).toBe(1);
    expect(await r.set('doomed', 'd')).toBe('OK');
    const before = {
      session: { ...(await getver(r, 'session')), at: await pexpiretime(r, 'session') },
      plain: { ...(await getver(r, 'plain')), at: await pexpiretime(r, 'plain') },
      extended: { ...(await getver(r, 'extended')), at: await pexpiretime(r, 'extended') },
      persisted: { ...(await getver(r, 'persisted')), at: await pexpiretime(r, 'persisted') },
    };
    const highestSeen = Math.max(...Object.values(before).map((k) => k.version ?? 0), (await getver(r, 'doomed'))?.version ?? 0);
    // The newest writes are deletes: their revisions are seen by no client, and must not come back.
    expect(await r.del('doomed')).toBe(1);
    expect(await r.del('plain')).toBe(1);
    return { before, highestSeen };
  }

  async function expectSameAfterRestart(r: Redis, history: Awaited<ReturnType<typeof writeHistory>>) {
    const { before, highestSeen } = history;
    for (const key of ['session', 'extended', 'persisted'] as const) {
      expect({ key, ...(await getver(r, key)), at: await pexpiretime(r, key) }).toEqual({ key, ...before[key] });
    }
    expect(before.session.at).toBeGreaterThan(0); // an absolute time, the same after the restart: not extended
    expect(before.persisted.at).toBe(-1);
    expect(await r.exists('plain', 'doomed')).toBe(0);
    expect(await r.pttl('session')).toBeLessThanOrEqual(600_000);
    // Two deletes took revisions highestSeen+1 and +2: the next write goes on after them.
    expect(await r.set('next', 'n')).toBe('OK');
    expect((await getver(r, 'next'))?.version).toBeGreaterThan(highestSeen + 2);
  }

  it('from the log alone: the same expiry times and versions, and no version handed out again', async () => {
    const first = await start();
    const history = await writeHistory(first.r);
    await crash(first.server);
    const again = await start();
    const loaded = await again.server.waitFor('data loaded');
    expect(loaded).toMatchObject({ snapshot: null, keys: 3 });
    await expectSameAfterRestart(again.r, history);
  });

  it('from a snapshot (its END names the revision the deletes reached) and an empty log', async () => {
    const first = await start();
    const history = await writeHistory(first.r);
    expect(await first.r.save()).toBe('OK');
    await crash(first.server);
    const again = await start();
    const loaded = await again.server.waitFor('data loaded');
    expect(loaded).toMatchObject({ snapshotKeys: 3, logRecords: 0, keys: 3 });
    await expectSameAfterRestart(again.r, history);
  });

  it('a key whose TTL ran out while the server was down is gone at load, from the log and from the snapshot', async () => {
    const first = await start();
    // Long enough that the snapshot is written before the key expires, even on a busy machine
    // (else the worker drops it there, and it never reaches the load to be dropped).
    const expiresAt = Date.now() + 4000;
    expect(await first.r.set('in-snapshot', 'x', 'PXAT', expiresAt)).toBe('OK');
    expect(await first.r.set('kept', 'k')).toBe('OK');
    expect(await first.r.save()).toBe('OK');
    expect(await first.r.set('in-log', 'y', 'PXAT', expiresAt)).toBe('OK');
    expect(await first.r.exists('in-snapshot', 'in-log')).toBe(2);
    await crash(first.server);
    // A real-time smoke case: the server is down while the time passes.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 50));
    const again = await start();
    const loaded = await again.server.waitFor('data loaded');
    expect(loaded).toMatchObject({ keys: 1, expiredAtLoad: 1 }); // dropped at load, not merely hidden
    expect(await again.r.dbsize()).toBe(1);
    expect(await again.r.exists('in-snapshot', 'in-log')).toBe(0);
  });
});
