import { describe, expect, it, vi } from 'vitest';
import { storedExpiry } from '../../src/backend/memory/stored-value.js';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { serverFixture } from '../helpers/server.js';
import { clockedServer, OK } from './clocked-server.js';

/**
 * Expiry as Redis 7 users know it (issue 11): lazy expiry, the active sweep, what
 * writes do to a key's expiry, TTL and its kin, INFO. Over real sockets to an
 * in-process server whose clock the test moves by hand. The options and the time
 * arguments are in expiry-options.test.ts.
 */

describe('expiry over RESP, on a clock the test moves', () => {
  const t = clockedServer();
  const { call, calls, held } = t;

  describe('lazy expiry, with the sweep off', () => {
    it('a key lives through its expiry millisecond and is gone the next, as in Redis', async () => {
      expect(await call('SET', 'k', 'v', 'PX', '1000')).toEqual(OK);
      t.clock.advance(1000);
      expect(await calls(['PTTL', 'k'], ['GET', 'k'])).toEqual([0, 'v']);
      t.clock.advance(1);
      expect(await calls(['GET', 'k'], ['PTTL', 'k'])).toEqual([null, -2]);
    });

    it('an expired key is gone for every command that reads or changes it', async () => {
      const probes: Array<[string[], RespValue]> = [
        [['GET', 'k0'], null],
        [['EXISTS', 'k1'], 0],
        [['TTL', 'k2'], -2],
        [['PTTL', 'k3'], -2],
        [['EXPIRETIME', 'k4'], -2],
        [['PEXPIRETIME', 'k5'], -2],
        [['GETEX', 'k6', 'PERSIST'], null],
        [['GETVER', 'k7'], null],
        [['GETDEL', 'k8'], null],
        [['PERSIST', 'k9'], 0],
        [['DEL', 'k10'], 0],
        [['DELIFEQ', 'k11', 'v'], 0],
        [['CAD', 'k12', '0'], [OK, 0]],
        [['GETEX', 'k13'], null],
      ];
      for (let i = 0; i < probes.length; i++) expect(await call('SET', `k${i}`, 'v', 'PX', '100')).toEqual(OK);
      t.clock.advance(101);
      for (const [words, absent] of probes) {
        const key = words[1] as string;
        expect(held(key)).toBe(true); // not reclaimed until a command looks at it
        expect(await call(...words), words.join(' ')).toEqual(absent);
        expect(held(key)).toBe(false);
      }
    });

    it('DBSIZE counts an expired key until a command touches it', async () => {
      await calls(['SET', 'a', '1', 'PX', '100'], ['SET', 'b', '2', 'PX', '100'], ['SET', 'c', '3']);
      t.clock.advance(200);
      expect(await call('DBSIZE')).toBe(3);
      expect(await call('GET', 'a')).toBe(null);
      expect(await call('DBSIZE')).toBe(2);
      expect(await call('EXISTS', 'b')).toBe(0);
      expect(await call('DBSIZE')).toBe(1);
    });

    it('SET NX, XX, GET, IFEQ, KEEPTTL and CAS 0 see an expired key as absent', async () => {
      for (const key of ['nx', 'xx', 'get', 'ifeq', 'keep', 'cas']) await call('SET', key, 'old', 'PX', '100');
      t.clock.advance(101);
      expect(await call('SET', 'nx', 'new', 'NX')).toEqual(OK);
      expect(await call('SET', 'xx', 'new', 'XX')).toBe(null);
      expect(await call('SET', 'get', 'new', 'GET')).toBe(null);
      expect(await call('SET', 'ifeq', 'new', 'IFEQ', 'old')).toBe(null);
      expect(await call('SET', 'keep', 'new', 'KEEPTTL')).toEqual(OK);
      const cas = (await call('CAS', 'cas', '0', 'new')) as RespValue[];
      expect(cas[0]).toEqual(OK);
      expect(await calls(['GET', 'nx'], ['GET', 'xx'], ['GET', 'get'], ['GET', 'ifeq'], ['GET', 'cas'])).toEqual(['new', null, 'new', null, 'new']);
      expect(await call('TTL', 'keep')).toBe(-1); // the expired key's TTL is not kept
    });

    it('EXPIRE must not resurrect a key', async () => {
      await call('SET', 'k', 'v', 'PX', '100');
      t.clock.advance(101);
      const far = String(Math.floor(t.clock.ms / 1000) + 3600);
      expect(
        await calls(['EXPIRE', 'k', '100'], ['PEXPIRE', 'k', '100000'], ['EXPIREAT', 'k', far], ['PEXPIREAT', 'k', far + '000'], ['EXPIRE', 'k', '100', 'NX'], ['EXPIRE', 'k', '100', 'LT']),
      ).toEqual([0, 0, 0, 0, 0, 0]);
      expect(await calls(['GET', 'k'], ['EXISTS', 'k'], ['TTL', 'k'])).toEqual([null, 0, -2]);
      expect(held('k')).toBe(false);
    });

    it('INFO counts each expired key once in expired_keys', async () => {
      expect(await t.info('expired_keys')).toBe('0');
      for (const key of ['a', 'b', 'c']) await call('SET', key, 'v', 'PX', '10');
      await call('SET', 'd', 'v');
      t.clock.advance(11);
      await calls(['GET', 'a'], ['GET', 'a'], ['EXISTS', 'b', 'b'], ['TTL', 'c'], ['GET', 'd']);
      expect(await t.info('expired_keys')).toBe('3');
    });
  });

  describe('the active sweep', () => {
    it('reclaims expired keys with no reads, and leaves the live ones', async () => {
      for (let i = 0; i < 200; i++) await call('SET', `gone${i}`, 'v', 'PX', '100');
      for (let i = 0; i < 50; i++) await call('SET', `later${i}`, 'v', 'EX', '1000');
      for (let i = 0; i < 50; i++) await call('SET', `kept${i}`, 'v');
      t.clock.advance(101);
      const { expired } = t.srv.server.backend.sweep(10_000);
      expect(expired).toBe(200);
      expect(await call('DBSIZE')).toBe(100);
      expect(await t.info('expired_keys')).toBe('200');
      expect(await t.info('db0')).toBe('keys=100,expires=50,avg_ttl=999899');
    });

    it('does not reclaim a key in its expiry millisecond', async () => {
      await call('SET', 'k', 'v', 'PX', '100');
      t.clock.advance(100);
      expect(t.srv.server.backend.sweep(10_000).expired).toBe(0);
      expect(held('k')).toBe(true);
    });
  });

  describe('writes and the expiry', () => {
    it('SET KEEPTTL replaces the value and keeps the expiry', async () => {
      await call('SET', 'k', 'v1', 'EX', '100');
      const at = await call('PEXPIRETIME', 'k');
      t.clock.advance(10_000);
      expect(await call('SET', 'k', 'v2', 'KEEPTTL')).toEqual(OK);
      expect(await calls(['GET', 'k'], ['TTL', 'k'], ['PEXPIRETIME', 'k'])).toEqual(['v2', 90, at]);
      expect(await call('SET', 'k', 'v3', 'XX', 'KEEPTTL', 'GET')).toBe('v2');
      expect(await call('TTL', 'k')).toBe(90);
    });

    it('a plain SET, PUT, SET GET and SET XX clear the expiry; a refused SET NX keeps it', async () => {
      for (const words of [['SET', 'k', 'w'], ['PUT', 'k', 'w'], ['SET', 'k', 'w', 'GET'], ['SET', 'k', 'w', 'XX']]) {
        await call('SET', 'k', 'v', 'EX', '100');
        await call(...words);
        expect(await call('TTL', 'k'), words.join(' ')).toBe(-1);
      }
      await call('SET', 'k', 'v', 'EX', '100');
      expect(await call('SET', 'k', 'w', 'NX')).toBe(null);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v', 100]);
    });

    it('SETEX and PSETEX set the value and a new expiry', async () => {
      expect(await call('SETEX', 'k', '100', 'v')).toEqual(OK);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v', 100]);
      expect(await call('PSETEX', 'k', '1500', 'w')).toEqual(OK);
      expect(await calls(['GET', 'k'], ['PTTL', 'k'])).toEqual(['w', 1500]);
      await call('SET', 'plain', 'v');
      expect(await call('SETEX', 'plain', '7', 'w')).toEqual(OK);
      expect(await call('TTL', 'plain')).toBe(7);
    });

    it('PERSIST removes an expiry, and answers 0 for a key without one or no key', async () => {
      await call('SET', 'k', 'v', 'EX', '100');
      expect(await calls(['PERSIST', 'k'], ['TTL', 'k'], ['PERSIST', 'k'], ['PERSIST', 'nokey'], ['GET', 'k'])).toEqual([1, -1, 0, 0, 'v']);
    });

    it('GETEX answers the value and sets the expiry (EX, PX, EXAT, PXAT), removes it (PERSIST), or leaves it', async () => {
      await call('SET', 'k', 'v');
      const s = Math.floor(t.clock.ms / 1000);
      expect(await calls(['GETEX', 'k', 'EX', '100'], ['TTL', 'k'])).toEqual(['v', 100]);
      expect(await calls(['GETEX', 'k'], ['TTL', 'k'])).toEqual(['v', 100]);
      expect(await calls(['GETEX', 'k', 'PX', '5000'], ['PTTL', 'k'])).toEqual(['v', 5000]);
      expect(await calls(['GETEX', 'k', 'EXAT', String(s + 60)], ['EXPIRETIME', 'k'])).toEqual(['v', s + 60]);
      expect(await calls(['GETEX', 'k', 'PXAT', String(t.clock.ms + 1234)], ['PEXPIRETIME', 'k'])).toEqual(['v', t.clock.ms + 1234]);
      expect(await calls(['GETEX', 'k', 'PERSIST'], ['TTL', 'k'])).toEqual(['v', -1]);
      expect(await calls(['GETEX', 'nokey', 'EX', '100'], ['EXISTS', 'nokey'])).toEqual([null, 0]);
    });
  });

  describe('TTL, PTTL, EXPIRETIME and PEXPIRETIME', () => {
    it('TTL rounds the milliseconds left to the nearest second, as Redis does', async () => {
      const cases: Array<[number, number]> = [
        [1, 0],
        [499, 0],
        [500, 1],
        [1499, 1],
        [1500, 2],
        [100_499, 100],
        [100_500, 101],
      ];
      for (const [ms, seconds] of cases) {
        await call('SET', 'k', 'v', 'PX', String(ms));
        expect(await calls(['PTTL', 'k'], ['TTL', 'k']), `PX ${ms}`).toEqual([ms, seconds]);
      }
      await call('SET', 'k', 'v', 'EX', '100');
      t.clock.advance(500);
      expect(await calls(['PTTL', 'k'], ['TTL', 'k'])).toEqual([99_500, 100]);
      t.clock.advance(1);
      expect(await calls(['PTTL', 'k'], ['TTL', 'k'])).toEqual([99_499, 99]);
    });

    it('answer -2 for no key and -1 for a key without an expiry', async () => {
      await call('SET', 'plain', 'v');
      for (const command of ['TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME']) {
        expect(await calls([command, 'nokey'], [command, 'plain']), command).toEqual([-2, -1]);
      }
    });

    it('EXPIRETIME and PEXPIRETIME answer the absolute expiry, EXPIRETIME rounded', async () => {
      const s = t.clock.ms / 1000; // the manual clock starts on a whole second
      await call('SET', 'k', 'v', 'EX', '100');
      expect(await calls(['EXPIRETIME', 'k'], ['PEXPIRETIME', 'k'])).toEqual([s + 100, t.clock.ms + 100_000]);
      await call('SET', 'k', 'v', 'PXAT', String(t.clock.ms + 100_499));
      expect(await calls(['EXPIRETIME', 'k'], ['PEXPIRETIME', 'k'])).toEqual([s + 100, t.clock.ms + 100_499]);
      await call('SET', 'k', 'v', 'PXAT', String(t.clock.ms + 100_500));
      expect(await call('EXPIRETIME', 'k')).toBe(s + 101);
      t.clock.advance(50_000);
      expect(await call('PEXPIRETIME', 'k')).toBe(t.clock.ms - 50_000 + 100_500); // absolute: the clock does not move it
    });
  });

  describe('INFO', () => {
    const keyspace = async (): Promise<string> => (await call('INFO', 'keyspace')) as string;

    it('INFO keyspace shows db0:keys=N,expires=M,avg_ttl=T, the mean TTL in ms', async () => {
      expect(await keyspace()).toBe('# Keyspace\r\n');
      await calls(['SET', 'a', 'v', 'EX', '100'], ['SET', 'b', 'v', 'PX', '200000'], ['SET', 'c', 'v']);
      expect(await keyspace()).toBe('# Keyspace\r\ndb0:keys=3,expires=2,avg_ttl=150000\r\n');
      t.clock.advance(50_000);
      expect(await keyspace()).toBe('# Keyspace\r\ndb0:keys=3,expires=2,avg_ttl=100000\r\n');
      await call('PERSIST', 'b');
      expect(await keyspace()).toBe('# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=50000\r\n');
      await call('DEL', 'a');
      expect(await keyspace()).toBe('# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n');
    });
  });
});

describe('the active expiry sweep on a real clock (a smoke test: no timing is asserted)', () => {
  const fx = serverFixture();

  it('reclaims keys nobody reads', async () => {
    await fx.start({}, { activeExpiry: true });
    const c = await fx.connect();
    // 50 ms rather than 1: a key whose whole TTL passes while SET runs is never stored, nor counted as expired.
    for (let i = 0; i < 50; i++) expect((await request(c, 'SET', `k${i}`, 'v', 'PX', '50')).value).toEqual(OK);
    await request(c, 'SET', 'kept', 'v');
    // Wait for the sweep; DBSIZE and the backend's size never expire a key themselves.
    await vi.waitFor(() => expect(fx.srv.server.backend.size).toBe(1), { timeout: 20_000, interval: 20 });
    expect((await request(c, 'DBSIZE')).value).toBe(1);
    expect((await request(c, 'INFO', 'stats')).value).toMatch(/\r\nexpired_keys:50\r\n/);
  });
});

describe('expiry over the text dialect', () => {
  const t = clockedServer();

  it('SETEX and PSETEX take the rest of the line as the value; TTL and PTTL answer INT', async () => {
    expect(await t.text('SETEX k 10 v v', 'GET k', 'TTL k', 'PSETEX p 1500 a  b', 'GET p', 'PTTL p')).toEqual([
      'OK',
      'VALUE v v',
      'INT 10',
      'OK',
      'VALUE a  b',
      'INT 1500',
    ]);
  });

  it('SET takes options after a quoted value; unquoted, they are part of the value', async () => {
    expect(await t.text('SET k "v" EX 10', 'TTL k', 'SET k "w" KEEPTTL', 'GET k', 'TTL k', 'SET k "x" NX', 'SET u v EX 10', 'GET u', 'TTL u')).toEqual([
      'OK',
      'INT 10',
      'OK',
      'VALUE w',
      'INT 10',
      'NOT_FOUND',
      'OK',
      'VALUE v EX 10',
      'INT -1',
    ]);
  });

  it('EXPIRE, PERSIST, EXPIRETIME and GETEX answer as over RESP, in text words', async () => {
    const s = t.clock.ms / 1000;
    expect(await t.text('PUT k v', 'EXPIRE k 100', 'TTL k', 'EXPIRETIME k', 'EXPIRE k 50 GT', 'PERSIST k', 'TTL k', 'GETEX k EX 5', 'TTL k')).toEqual([
      'OK',
      'INT 1',
      'INT 100',
      `INT ${s + 100}`,
      'INT 0',
      'INT 1',
      'INT -1',
      'VALUE v',
      'INT 5',
    ]);
  });

  it('an expired key is NOT_FOUND, and TTL answers INT -2', async () => {
    expect(await t.text('SETEX k 1 v', 'GET k')).toEqual(['OK', 'VALUE v']);
    t.clock.advance(1001);
    expect(await t.text('GET k', 'TTL k', 'EXPIRE k 100', 'GET k', 'DBSIZE')).toEqual(['NOT_FOUND', 'INT -2', 'INT 0', 'NOT_FOUND', 'INT 0']);
  });

  it('refuses bad times and conflicting options with a stable code', async () => {
    expect(await t.text('SETEX k abc v', 'SETEX k 0 v', 'PSETEX k -1 v', 'SET k "v" EX 10 PX 5', 'SET k "v" EX 1.5', 'EXPIRE k 10 NX XX', 'SETEX k 10')).toEqual([
      'ERR NOT_INTEGER value is not an integer or out of range',
      "ERR INVALID_EXPIRE invalid expire time in 'setex' command",
      "ERR INVALID_EXPIRE invalid expire time in 'psetex' command",
      'ERR SYNTAX syntax error',
      'ERR NOT_INTEGER value is not an integer or out of range',
      'ERR SYNTAX NX and XX, GT or LT options at the same time are not compatible',
      "ERR WRONG_ARITY wrong number of arguments for 'setex' command; usage: SETEX key seconds value-to-end-of-line",
    ]);
    expect(await t.text('EXISTS k')).toEqual(['INT 0']);
  });
});

describe('a command reads the time once', () => {
  const fx = serverFixture();

  it('SET … PX 1, PSETEX 1, CAS … PX 1 and PEXPIRE 1 store the key on a clock that moves a millisecond at every reading', async () => {
    let ms = Date.UTC(2030, 0, 1);
    const srv = await fx.start({}, { clock: () => ms++, activeExpiry: false });
    const client = await fx.connect();
    await request(client, 'SET', 'd', 'v');
    for (const [words, reply] of [
      [['SET', 'a', 'v', 'PX', '1'], { status: 'OK' }],
      [['PSETEX', 'b', '1', 'v'], { status: 'OK' }],
      [['CAS', 'c', '0', 'v', 'PX', '1'], [{ status: 'OK' }, 4]],
      [['PEXPIRE', 'd', '1'], 1],
    ] as const) {
      const key = words[1];
      const before = ms;
      expect((await request(client, ...words)).value, words.join(' ')).toEqual(reply);
      const after = ms;
      // Had the backend read the clock again to apply the write, the key would be
      // gone, deleted as already expired.
      const stored = srv.server.backend.peek(key);
      expect(stored, words.join(' ')).toBeDefined();
      const expiresAt = storedExpiry(stored as string);
      expect(expiresAt).toBeGreaterThan(before);
      expect(expiresAt).toBeLessThanOrEqual(after);
    }
  });
});
