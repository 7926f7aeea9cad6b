import { expect, it } from 'vitest';
import { until } from '../../helpers/gateway.js';
import { forEachBackend, listAll, scanAll } from './backends.js';

/** Issue 15: expiry as README "Keys that expire" has it, over every backend. */
forEachBackend((b) => {
  it('TTL and PTTL answer -2 for no key and -1 for no expiry; EXPIRETIME likewise', async () => {
    const { redis } = await b.serve();
    expect([await redis.ttl('k'), await redis.pttl('k'), await redis.call('EXPIRETIME', 'k'), await redis.call('PEXPIRETIME', 'k')]).toEqual([-2, -2, -2, -2]);
    await redis.set('k', 'v');
    expect([await redis.ttl('k'), await redis.pttl('k'), await redis.call('EXPIRETIME', 'k'), await redis.call('PEXPIRETIME', 'k')]).toEqual([-1, -1, -1, -1]);
  });

  it('EXPIRE with NX, XX, GT and LT changes the expiry only when the condition holds', async () => {
    const { redis } = await b.serve();
    expect(await redis.expire('nokey', 100)).toBe(0);
    await redis.set('k', 'v');
    // No expiry counts as an infinite one: GT never holds, LT always does.
    expect(await redis.expire('k', 100, 'XX')).toBe(0);
    expect(await redis.expire('k', 100, 'GT')).toBe(0);
    expect(await redis.ttl('k')).toBe(-1);
    expect(await redis.expire('k', 100, 'NX')).toBe(1);
    expect(await redis.expire('k', 200, 'NX')).toBe(0);
    expect(await redis.expire('k', 200, 'GT')).toBe(1);
    expect(await redis.ttl('k')).toBeGreaterThan(198);
    expect(await redis.expire('k', 50, 'GT')).toBe(0);
    expect(await redis.expire('k', 300, 'LT')).toBe(0);
    expect(await redis.expire('k', 50, 'LT')).toBe(1);
    expect(await redis.expire('k', 60, 'XX')).toBe(1);
    const ttl = await redis.ttl('k');
    expect(ttl).toBeGreaterThan(58);
    expect(ttl).toBeLessThanOrEqual(60);
    await expect(redis.call('EXPIRE', 'k', '10', 'NX', 'XX')).rejects.toThrow(/^ERR NX and XX, GT or LT options at the same time are not compatible$/);
    await expect(redis.call('EXPIRE', 'k', '10', 'GT', 'LT')).rejects.toThrow(/^ERR GT and LT options at the same time are not compatible$/);
    await expect(redis.call('EXPIRE', 'k', 'soon')).rejects.toThrow(/^ERR value is not an integer or out of range$/);
    expect(await redis.ttl('k')).toBeGreaterThan(50);
  });

  it('PEXPIRE, EXPIREAT and PEXPIREAT set the time EXPIRETIME and PEXPIRETIME read back; PERSIST clears it', async () => {
    const { redis } = await b.serve();
    await redis.set('k', 'v');
    expect(await redis.pexpire('k', 90_000)).toBe(1);
    expect(await redis.pttl('k')).toBeGreaterThan(88_000);
    const at = Math.floor(Date.now() / 1000) + 1000;
    expect(await redis.expireat('k', at)).toBe(1);
    expect(await redis.call('EXPIRETIME', 'k')).toBe(at);
    const pat = Date.now() + 2_000_000;
    expect(await redis.pexpireat('k', pat)).toBe(1);
    expect(await redis.call('PEXPIRETIME', 'k')).toBe(pat);
    expect(await redis.persist('k')).toBe(1);
    expect(await redis.persist('k')).toBe(0);
    expect(await redis.persist('nokey')).toBe(0);
    expect(await redis.ttl('k')).toBe(-1);
    expect(await redis.get('k')).toBe('v');
  });

  it('an expiry in the past deletes the key at once', async () => {
    const { redis } = await b.serve();
    await redis.set('a', 'v');
    await redis.set('b', 'v');
    await redis.set('c', 'v');
    expect(await redis.expire('a', -1)).toBe(1);
    expect(await redis.pexpireat('b', Date.now() - 1000)).toBe(1);
    expect(await redis.call('SET', 'c', 'w', 'PXAT', String(Date.now() - 1000))).toBe('OK');
    expect([await redis.exists('a'), await redis.exists('b'), await redis.exists('c')]).toEqual([0, 0, 0]);
    expect(await redis.keys('*')).toEqual([]);
  });

  it('a key is gone at its expiry for every command and every front-end at once', async () => {
    const { redis, http, text, udp } = await b.serve();
    const keys = ['{t}gone', '{t}w1', '{t}w2', '{t}w3', '{t}w4', '{t}w5'];
    const at = Date.now() + 400;
    for (const k of keys) await redis.call('SET', k, '41', 'PXAT', String(at));
    await redis.set('{t}kept', 'v');
    const [, oldVersion] = (await redis.call('GETVER', '{t}gone')) as [string, number];
    const t = await text();
    const u = await udp();
    // Waiting on the event itself: the first read that finds it gone.
    await until(async () => (await redis.pttl('{t}gone')) === -2, 5000);
    // What reads see, first: nothing, not even for the scans (the engine may not have reclaimed it yet).
    expect(await redis.get('{t}gone')).toBeNull();
    expect(await redis.exists('{t}gone', '{t}kept')).toBe(1);
    expect([await redis.ttl('{t}gone'), await redis.call('EXPIRETIME', '{t}gone')]).toEqual([-2, -2]);
    expect(await redis.strlen('{t}gone')).toBe(0);
    expect(await redis.getrange('{t}gone', 0, -1)).toBe('');
    expect(await redis.type('{t}gone')).toBe('none');
    expect(await redis.call('GETVER', '{t}gone')).toBeNull();
    expect(await redis.mget('{t}gone', '{t}kept')).toEqual([null, 'v']);
    expect(await redis.keys('{t}*')).toEqual(['{t}kept']);
    expect(await scanAll(redis, '{t}*')).toEqual(['{t}kept']);
    expect(await t.text('GET {t}gone', 'EXISTS {t}gone')).toEqual(['NOT_FOUND', 'INT 0']);
    expect(await u.get('{t}gone')).toBeNull();
    expect((await fetch(`${http}/v1/kv/${encodeURIComponent('{t}gone')}`)).status).toBe(404);
    expect(await listAll(http, '{t}')).toEqual(['{t}kept']);
    // What writes see: no key, so conditions on it fail and counters start again.
    expect(await redis.getdel('{t}gone')).toBeNull();
    expect(await redis.getex('{t}gone', 'PERSIST')).toBeNull();
    expect(await redis.persist('{t}gone')).toBe(0);
    expect(await redis.expire('{t}gone', 100)).toBe(0);
    expect(await redis.set('{t}gone', 'x', 'XX')).toBeNull();
    expect(await redis.call('CAS', '{t}gone', String(oldVersion), 'x')).toEqual(['CONFLICT', 0]);
    expect(await redis.call('CAD', '{t}gone', String(oldVersion))).toEqual(['CONFLICT', 0]);
    expect(await redis.del('{t}gone')).toBe(0);
    await expect(redis.rename('{t}gone', '{t}new')).rejects.toThrow(/^ERR no such key$/);
    expect(await redis.incr('{t}w1')).toBe(1);
    expect(await redis.append('{t}w2', 'z')).toBe(1);
    expect(await redis.set('{t}w3', 'fresh', 'NX')).toBe('OK');
    expect(await redis.ttl('{t}w3')).toBe(-1);
    expect(await redis.setrange('{t}w4', 1, 'y')).toBe(2);
    expect(await redis.msetnx('{t}w5', 'n', '{t}kept2', 'n')).toBe(1);
    expect(await redis.mget('{t}w1', '{t}w2', '{t}w4', '{t}w5')).toEqual(['1', 'z', '\x00y', 'n']);
  });
});
