import { expect, it } from 'vitest';
import { forEachBackend, scanAll } from './backends.js';

/** Issue 15: the keyspace commands (EXISTS, DEL, UNLINK, RENAME, COPY, TYPE, SCAN, KEYS…) over every backend, keys of one slot ({t}). */
forEachBackend((b) => {
  it('EXISTS counts a key named twice twice; DEL and UNLINK answer how many existed', async () => {
    const { redis } = await b.serve();
    await redis.mset('{t}a', '1', '{t}b', '2', '{t}c', '3');
    expect(await redis.exists('{t}a', '{t}a', '{t}none')).toBe(2);
    expect(await redis.del('{t}a', '{t}none')).toBe(1);
    expect(await redis.unlink('{t}b', '{t}c', '{t}b')).toBe(2);
    expect(await redis.exists('{t}a', '{t}b', '{t}c')).toBe(0);
    expect(await redis.del('{t}a')).toBe(0);
  });

  it('RENAME and RENAMENX move the value and its expiry; COPY copies them', async () => {
    const { redis } = await b.serve();
    await redis.set('{t}src', 'v', 'EX', 100);
    expect(await redis.rename('{t}src', '{t}dst')).toBe('OK');
    expect(await redis.exists('{t}src')).toBe(0);
    expect(await redis.get('{t}dst')).toBe('v');
    expect(await redis.ttl('{t}dst')).toBeGreaterThan(98);
    await expect(redis.rename('{t}src', '{t}x')).rejects.toThrow(/^ERR no such key$/);
    await redis.set('{t}taken', 't');
    expect(await redis.renamenx('{t}dst', '{t}taken')).toBe(0);
    expect(await redis.renamenx('{t}dst', '{t}free')).toBe(1);
    expect(await redis.rename('{t}free', '{t}free')).toBe('OK');
    expect(await redis.get('{t}free')).toBe('v');
    expect(await redis.copy('{t}free', '{t}taken')).toBe(0);
    expect(await redis.copy('{t}free', '{t}taken', 'REPLACE')).toBe(1);
    expect(await redis.copy('{t}free', '{t}copy')).toBe(1);
    expect(await redis.mget('{t}free', '{t}taken', '{t}copy')).toEqual(['v', 'v', 'v']);
    expect(await redis.ttl('{t}copy')).toBeGreaterThan(98);
    expect(await redis.copy('{t}none', '{t}x')).toBe(0);
  });

  it('TYPE answers string or none; TOUCH counts', async () => {
    const { redis } = await b.serve();
    await redis.set('{t}k', 'v');
    expect(await redis.type('{t}k')).toBe('string');
    expect(await redis.type('{t}none')).toBe('none');
    expect(await redis.call('TOUCH', '{t}k', '{t}none', '{t}k')).toBe(2);
  });

  it('SCAN with MATCH and COUNT walks every key once a walk, and KEYS, DBSIZE and RANDOMKEY agree', async () => {
    const { redis } = await b.serve();
    const users = Array.from({ length: 30 }, (_, i) => `user:${i}`);
    for (const k of users) await redis.set(k, 'u');
    for (const k of ['other:1', 'other:2', 'user']) await redis.set(k, 'o');
    expect(await scanAll(redis, 'user:*', 7)).toEqual([...users].sort());
    expect(await scanAll(redis, '*', 1)).toEqual([...users, 'other:1', 'other:2', 'user'].sort());
    expect(await scanAll(redis, 'nothing*', 5)).toEqual([]);
    expect((await redis.keys('user:1*')).sort()).toEqual(['user:1', 'user:10', 'user:11', 'user:12', 'user:13', 'user:14', 'user:15', 'user:16', 'user:17', 'user:18', 'user:19']);
    expect((await redis.keys('other:?')).sort()).toEqual(['other:1', 'other:2']);
    expect((await redis.keys('user:[2-3]')).sort()).toEqual(['user:2', 'user:3']);
    expect(await redis.dbsize()).toBe(33);
    expect([...users, 'other:1', 'other:2', 'user']).toContain(await redis.randomkey());
    await expect(redis.scan('not-a-cursor')).rejects.toThrow(/^ERR invalid cursor$/);
  });

  it('FLUSHDB empties the keyspace; RANDOMKEY then answers nil', async () => {
    const { redis } = await b.serve();
    await redis.mset('{t}a', '1', '{t}b', '2');
    expect(await redis.flushdb()).toBe('OK');
    expect(await redis.dbsize()).toBe(0);
    expect(await redis.randomkey()).toBeNull();
    expect(await redis.keys('*')).toEqual([]);
  });
});
