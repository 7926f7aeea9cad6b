import { expect, it } from 'vitest';
import { forEachBackend } from './backends.js';

/** Issue 15: the string commands of the earlier issues, the same cases over every backend ({t} keys share a slot). */
forEachBackend((b) => {
  it('SET with NX, XX and GET answers as Redis 7 does', async () => {
    const { redis } = await b.serve();
    expect(await redis.set('k', 'v1')).toBe('OK');
    expect(await redis.set('k', 'v2', 'NX')).toBeNull();
    expect(await redis.set('absent', 'v', 'XX')).toBeNull();
    expect(await redis.exists('absent')).toBe(0);
    expect(await redis.set('k', 'v3', 'XX')).toBe('OK');
    expect(await redis.call('SET', 'k', 'v4', 'GET')).toBe('v3');
    expect(await redis.call('SET', 'fresh', 'x', 'GET')).toBeNull();
    expect(await redis.call('SET', 'k', 'v5', 'NX', 'GET')).toBe('v4');
    expect(await redis.get('k')).toBe('v4');
    expect(await redis.get('fresh')).toBe('x');
    await expect(redis.call('SET', 'k', 'v', 'NX', 'XX')).rejects.toThrow(/^ERR syntax error$/);
    await expect(redis.call('SET', 'k', 'v', 'EX', '0')).rejects.toThrow(/^ERR invalid expire time in 'set' command$/);
    await expect(redis.call('SET', 'k', 'v', 'EX', '10', 'PX', '10')).rejects.toThrow(/^ERR syntax error$/);
    expect(await redis.get('k')).toBe('v4');
  });

  it('SET EX, PX, EXAT, PXAT and KEEPTTL set the expiry; a plain SET clears it', async () => {
    const { redis } = await b.serve();
    await redis.set('k', 'v', 'EX', 100);
    expect(await redis.ttl('k')).toBeGreaterThan(98);
    expect(await redis.ttl('k')).toBeLessThanOrEqual(100);
    await redis.set('k', 'v', 'PX', 50_000);
    const pttl = await redis.pttl('k');
    expect(pttl).toBeGreaterThan(48_000);
    expect(pttl).toBeLessThanOrEqual(50_000);
    const at = Math.floor(Date.now() / 1000) + 500;
    await redis.set('k', 'v', 'EXAT', at);
    expect(await redis.call('EXPIRETIME', 'k')).toBe(at);
    const pat = Date.now() + 700_000;
    await redis.set('k', 'v', 'PXAT', pat);
    expect(await redis.call('PEXPIRETIME', 'k')).toBe(pat);
    expect(await redis.set('k', 'w', 'KEEPTTL')).toBe('OK');
    expect(await redis.call('PEXPIRETIME', 'k')).toBe(pat);
    expect(await redis.get('k')).toBe('w');
    await redis.set('k', 'plain');
    expect(await redis.ttl('k')).toBe(-1);
  });

  it('GETEX reads and changes the expiry; GETDEL reads and deletes', async () => {
    const { redis } = await b.serve();
    await redis.set('k', 'v');
    expect(await redis.getex('k', 'EX', 100)).toBe('v');
    expect(await redis.ttl('k')).toBeGreaterThan(98);
    expect(await redis.call('GETEX', 'k', 'PERSIST')).toBe('v');
    expect(await redis.ttl('k')).toBe(-1);
    expect(await redis.getex('k')).toBe('v');
    expect(await redis.getex('nokey', 'EX', 10)).toBeNull();
    expect(await redis.exists('nokey')).toBe(0);
    await expect(redis.call('GETEX', 'k', 'EX', '-5')).rejects.toThrow(/^ERR invalid expire time in 'getex' command$/);
    expect(await redis.getdel('k')).toBe('v');
    expect(await redis.getdel('k')).toBeNull();
    expect(await redis.exists('k')).toBe(0);
  });

  it('SETEX, PSETEX, SETNX and GETSET', async () => {
    const { redis } = await b.serve();
    expect(await redis.setex('k', 100, 'v')).toBe('OK');
    expect(await redis.ttl('k')).toBeGreaterThan(98);
    expect(await redis.psetex('p', 60_000, 'v')).toBe('OK');
    expect(await redis.pttl('p')).toBeGreaterThan(58_000);
    await expect(redis.setex('k', 0, 'v')).rejects.toThrow(/^ERR invalid expire time in 'setex' command$/);
    expect(await redis.setnx('k', 'other')).toBe(0);
    expect(await redis.setnx('n', 'first')).toBe(1);
    expect(await redis.getset('k', 'replaced')).toBe('v');
    // GETSET is a write that replaces the value: it clears the expiry, as SET does.
    expect(await redis.ttl('k')).toBe(-1);
    expect(await redis.getset('none', 'x')).toBeNull();
    expect([await redis.get('n'), await redis.get('none')]).toEqual(['first', 'x']);
  });

  it('counts with INCR, INCRBY, DECR, DECRBY and INCRBYFLOAT, refusing what is not a number', async () => {
    const { redis } = await b.serve();
    expect(await redis.incr('n')).toBe(1);
    expect(await redis.incrby('n', 10)).toBe(11);
    expect(await redis.decr('n')).toBe(10);
    expect(await redis.decrby('n', 13)).toBe(-3);
    expect(await redis.incrbyfloat('n', '1.5')).toBe('-1.5');
    expect(await redis.incrbyfloat('f', '10.5')).toBe('10.5');
    expect(await redis.incrbyfloat('f', '5.0e3')).toBe('5010.5');
    await expect(redis.incr('f')).rejects.toThrow(/^ERR value is not an integer or out of range$/);
    await redis.set('s', 'abc');
    await expect(redis.incrbyfloat('s', '1')).rejects.toThrow(/^ERR value is not a valid float$/);
    await redis.set('max', '9223372036854775807');
    await expect(redis.incr('max')).rejects.toThrow(/^ERR increment or decrement would overflow$/);
    expect(await redis.get('max')).toBe('9223372036854775807');
    // A counter keeps its expiry.
    await redis.set('ttl', '1', 'EX', 100);
    expect(await redis.incr('ttl')).toBe(2);
    expect(await redis.ttl('ttl')).toBeGreaterThan(98);
  });

  it('APPEND, STRLEN, GETRANGE, SUBSTR and SETRANGE', async () => {
    const { redis } = await b.serve();
    expect(await redis.append('k', 'hello')).toBe(5);
    expect(await redis.append('k', ' world')).toBe(11);
    expect(await redis.strlen('k')).toBe(11);
    expect(await redis.strlen('nokey')).toBe(0);
    expect(await redis.getrange('k', 0, 4)).toBe('hello');
    expect(await redis.getrange('k', -5, -1)).toBe('world');
    expect(await redis.call('SUBSTR', 'k', '6', '100')).toBe('world');
    expect(await redis.getrange('nokey', 0, -1)).toBe('');
    expect(await redis.setrange('k', 6, 'WORLD')).toBe(11);
    expect(await redis.get('k')).toBe('hello WORLD');
    expect(await redis.setrange('pad', 3, 'x')).toBe(4);
    expect(await redis.getBuffer('pad')).toEqual(Buffer.from([0, 0, 0, 0x78]));
    expect(await redis.setrange('nothing', 5, '')).toBe(0);
    expect(await redis.exists('nothing')).toBe(0);
    // APPEND and SETRANGE keep the expiry.
    await redis.set('e', 'a', 'EX', 100);
    await redis.append('e', 'b');
    await redis.setrange('e', 0, 'z');
    expect(await redis.get('e')).toBe('zb');
    expect(await redis.ttl('e')).toBeGreaterThan(98);
  });

  it('MSET, MGET and MSETNX over keys of one hash slot', async () => {
    const { redis } = await b.serve();
    expect(await redis.mset('{t}a', '1', '{t}b', '2')).toBe('OK');
    expect(await redis.mget('{t}a', '{t}b', '{t}none')).toEqual(['1', '2', null]);
    expect(await redis.msetnx('{t}a', 'x', '{t}c', 'y')).toBe(0);
    expect(await redis.exists('{t}c')).toBe(0);
    expect(await redis.get('{t}a')).toBe('1');
    expect(await redis.msetnx('{t}c', 'y', '{t}d', 'z')).toBe(1);
    expect(await redis.mget('{t}c', '{t}d')).toEqual(['y', 'z']);
    // MSET clears an expiry, as SET does.
    await redis.set('{t}a', 'e', 'EX', 100);
    await redis.mset('{t}a', 'again', '{t}b', 'again');
    expect(await redis.ttl('{t}a')).toBe(-1);
    await expect(redis.call('MSET', '{t}a', '1', '{t}b')).rejects.toThrow(/^ERR wrong number of arguments for 'mset' command$/);
  });

  it('keeps every byte of keys and values', async () => {
    const { redis } = await b.serve();
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const key = Buffer.from([0x6b, 0x00, 0xff, 0x0a, 0xe9]);
    expect(await redis.set(key, value)).toBe('OK');
    expect(await redis.getBuffer(key)).toEqual(value);
    expect(await redis.strlen(key)).toBe(256);
    expect(await redis.keysBuffer('k*')).toEqual([key]);
    const big = Buffer.alloc(200_000, 'x');
    await redis.set('big', big);
    expect(await redis.strlen('big')).toBe(200_000);
    expect((await redis.getBuffer('big'))?.equals(big)).toBe(true);
  });
});
