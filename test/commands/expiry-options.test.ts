import { describe, expect, it } from 'vitest';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { clockedServer, err, invalidExpire, NOT_INTEGER, OK, SYNTAX } from './clocked-server.js';

/**
 * The options and time arguments of the expiry commands, with Redis 7's replies and
 * error texts (test/frontends/redis-differential.test.ts checks the same against a
 * real redis-server): EXPIRE's NX/XX/GT/LT, SET's options, GETEX's order of checks,
 * and times that are not integers or overflow.
 */

describe('expiry options and times over RESP', () => {
  const t = clockedServer();
  const { call, calls } = t;

  describe('EXPIRE and its conditions', () => {
    // [the key has a 100 s TTL, the options, the new TTL in s, Redis 7's reply, the TTL after]
    const matrix: Array<[boolean, string[], number, number, number]> = [
      [false, [], 50, 1, 50],
      [false, ['NX'], 50, 1, 50],
      [false, ['XX'], 50, 0, -1],
      [false, ['GT'], 50, 0, -1], // no expiry counts as an infinite TTL
      [false, ['LT'], 50, 1, 50],
      [false, ['XX', 'GT'], 200, 0, -1],
      [false, ['XX', 'LT'], 50, 0, -1],
      [true, [], 50, 1, 50],
      [true, [], 200, 1, 200],
      [true, ['NX'], 50, 0, 100],
      [true, ['XX'], 50, 1, 50],
      [true, ['GT'], 50, 0, 100],
      [true, ['GT'], 100, 0, 100],
      [true, ['GT'], 200, 1, 200],
      [true, ['LT'], 50, 1, 50],
      [true, ['LT'], 100, 0, 100],
      [true, ['LT'], 200, 0, 100],
      [true, ['XX', 'GT'], 200, 1, 200],
      [true, ['GT', 'XX'], 50, 0, 100],
      [true, ['XX', 'LT'], 50, 1, 50],
      [true, ['lt', 'xx'], 200, 0, 100],
    ];

    it.each(matrix)('with a TTL: %s, options %j, %i s → %i, then TTL %i', async (hasTtl, options, seconds, reply, ttlAfter) => {
      await call('SET', 'k', 'v', ...(hasTtl ? ['EX', '100'] : []));
      expect(await call('EXPIRE', 'k', String(seconds), ...options)).toBe(reply);
      expect(await call('TTL', 'k')).toBe(ttlAfter);
      // The same in milliseconds, and as absolute times.
      await call('SET', 'p', 'v', ...(hasTtl ? ['EX', '100'] : []));
      expect(await call('PEXPIREAT', 'p', String(t.clock.ms + seconds * 1000), ...options)).toBe(reply);
      expect(await call('TTL', 'p')).toBe(ttlAfter);
    });

    it('a time not in the future deletes the key, when the condition lets it', async () => {
      await call('SET', 'a', 'v');
      expect(await calls(['EXPIRE', 'a', '-1', 'LT'], ['EXISTS', 'a'])).toEqual([1, 0]);
      await call('SET', 'b', 'v', 'EX', '100');
      expect(await calls(['EXPIRE', 'b', '-1', 'GT'], ['TTL', 'b'])).toEqual([0, 100]);
      for (const words of [['EXPIRE', 'c', '0'], ['PEXPIRE', 'c', '-5'], ['EXPIREAT', 'c', '1'], ['PEXPIREAT', 'c', '0'], ['PEXPIREAT', 'c', String(t.clock.ms)]]) {
        await call('SET', 'c', 'v');
        expect(await calls(words, ['EXISTS', 'c']), words.join(' ')).toEqual([1, 0]);
      }
    });

    it("refuses conflicting and unknown options with Redis 7's errors, before the key and the time", async () => {
      await call('SET', 'k', 'v', 'EX', '100');
      const NX_CONFLICT = err('NX and XX, GT or LT options at the same time are not compatible');
      const cases: Array<[string[], RespValue]> = [
        [['EXPIRE', 'k', '10', 'NX', 'XX'], NX_CONFLICT],
        [['EXPIRE', 'k', '10', 'NX', 'GT'], NX_CONFLICT],
        [['PEXPIRE', 'k', '10', 'LT', 'NX'], NX_CONFLICT],
        [['EXPIRE', 'k', '10', 'GT', 'LT'], err('GT and LT options at the same time are not compatible')],
        [['EXPIRE', 'k', '10', 'FOO'], err('Unsupported option FOO')],
        [['EXPIRE', 'k', '10', 'NX', 'XX', 'FOO'], err('Unsupported option FOO')],
        [['EXPIRE', 'k', 'abc', 'NX', 'XX'], NX_CONFLICT],
        [['EXPIRE', 'k', 'abc', 'FOO'], err('Unsupported option FOO')],
        [['EXPIRE', 'nokey', '10', 'NX', 'XX'], NX_CONFLICT],
        [['EXPIREAT', 'k', '1', 'GT', 'LT'], err('GT and LT options at the same time are not compatible')],
      ];
      for (const [words, reply] of cases) expect(await call(...words), words.join(' ')).toEqual(reply);
      // A repeated option is no conflict.
      expect(await call('EXPIRE', 'k', '50', 'XX', 'XX')).toBe(1);
      expect(await call('TTL', 'k')).toBe(50);
    });
  });

  describe('SET options', () => {
    it('conflicting or incomplete SET options are a syntax error and change nothing', async () => {
      await call('SET', 'k', 'v', 'EX', '100');
      const version = await call('GETVER', 'k');
      const conflicts = [
        ['EX', '10', 'PX', '100'],
        ['PX', '100', 'EX', '10'],
        ['EX', '10', 'EXAT', '100'],
        ['EXAT', '10', 'PXAT', '100'],
        ['KEEPTTL', 'EX', '10'],
        ['EX', '10', 'KEEPTTL'],
        ['PXAT', '10', 'KEEPTTL'],
        ['NX', 'XX'],
        ['XX', 'NX'],
        ['IFEQ', 'v', 'NX'],
        ['NX', 'IFEQ', 'v'],
        ['XX', 'IFEQ', 'v'],
        ['IFEQ'],
        ['EX'],
        ['PERSIST'],
        ['FOO'],
        ['EX', 'abc', 'FOO'], // syntax first, then the time
      ];
      for (const options of conflicts) expect(await call('SET', 'k', 'w', ...options), options.join(' ')).toEqual(SYNTAX);
      expect(await calls(['GETVER', 'k'], ['TTL', 'k'])).toEqual([version, 100]);
    });

    it('a repeated SET option is allowed, and the last time counts', async () => {
      expect(await calls(['SET', 'k', 'v', 'EX', '10', 'EX', '20'], ['TTL', 'k'])).toEqual([OK, 20]);
      expect(await calls(['SET', 'k', 'v', 'PX', '10', 'PX', '30000'], ['TTL', 'k'])).toEqual([OK, 30]);
      expect(await calls(['SET', 'k', 'w', 'KEEPTTL', 'KEEPTTL'], ['TTL', 'k'])).toEqual([OK, 30]);
      expect(await call('SET', 'k', 'x', 'GET', 'GET')).toBe('w');
      expect(await call('SET', 'k', 'y', 'NX', 'NX')).toBe(null);
    });

    it('EXAT and PXAT not in the future store nothing and delete the key', async () => {
      const s = Math.floor(t.clock.ms / 1000);
      for (const time of [['EXAT', '1'], ['EXAT', String(s)], ['PXAT', String(t.clock.ms)], ['PXAT', String(t.clock.ms - 1)]]) {
        await call('SET', 'k', 'old');
        expect(await calls(['SET', 'k', 'new', ...time], ['EXISTS', 'k']), time.join(' ')).toEqual([OK, 0]);
      }
      await call('SET', 'k', 'old');
      expect(await calls(['SET', 'k', 'new', 'PXAT', '1', 'GET'], ['EXISTS', 'k'])).toEqual(['old', 0]);
      await call('SET', 'k', 'old');
      expect(await calls(['GETEX', 'k', 'PXAT', '1'], ['EXISTS', 'k'])).toEqual(['old', 0]);
      expect(await calls(['SET', 'k', 'new', 'PXAT', String(t.clock.ms + 1)], ['PTTL', 'k'])).toEqual([OK, 1]);
    });
  });

  describe('times that are not integers or overflow', () => {
    it("are refused with Redis 7's texts, and change nothing", async () => {
      await call('SET', 'k', 'v', 'EX', '100');
      const cases: Array<[string[], RespValue]> = [
        [['SET', 'k', 'w', 'EX', '9223372036854775807'], invalidExpire('set')],
        [['SET', 'k', 'w', 'EX', '9223372036854775'], invalidExpire('set')], // ms + now overflows
        [['SET', 'k', 'w', 'PX', '9223372036854775807'], invalidExpire('set')],
        [['SET', 'k', 'w', 'EXAT', '9223372036854775807'], invalidExpire('set')],
        [['SET', 'k', 'w', 'EX', '0'], invalidExpire('set')],
        [['SET', 'k', 'w', 'PX', '-1'], invalidExpire('set')],
        [['SET', 'k', 'w', 'EX', '1.5'], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', 'abc'], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', '+1'], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', '01'], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', ' 1'], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', ''], NOT_INTEGER],
        [['SET', 'k', 'w', 'EX', '99999999999999999999'], NOT_INTEGER],
        [['SETEX', 'k', '0', 'w'], invalidExpire('setex')],
        [['SETEX', 'k', '-1', 'w'], invalidExpire('setex')],
        [['SETEX', 'k', '10.0', 'w'], NOT_INTEGER],
        [['SETEX', 'k', '9223372036854775807', 'w'], invalidExpire('setex')],
        [['PSETEX', 'k', '0', 'w'], invalidExpire('psetex')],
        [['PSETEX', 'k', 'abc', 'w'], NOT_INTEGER],
        [['PSETEX', 'k', '9223372036854775807', 'w'], invalidExpire('psetex')],
        [['GETEX', 'k', 'EX', '0'], invalidExpire('getex')],
        [['GETEX', 'k', 'PX', '9223372036854775807'], invalidExpire('getex')],
        [['GETEX', 'k', 'EX', 'abc'], NOT_INTEGER],
        [['EXPIRE', 'k', '9223370399119966'], invalidExpire('expire')], // ×1000 + now overflows
        [['EXPIRE', 'k', '-9999999999999999'], invalidExpire('expire')], // ×1000 underflows
        [['EXPIRE', 'k', '9223372036854775807'], invalidExpire('expire')],
        [['EXPIRE', 'k', 'abc'], NOT_INTEGER],
        [['EXPIRE', 'k', '1e3'], NOT_INTEGER],
        [['PEXPIRE', 'k', '9223372036854775807'], invalidExpire('pexpire')],
        [['EXPIREAT', 'k', '9223372036854776'], invalidExpire('expireat')],
        [['PEXPIREAT', 'k', '9223372036854775808'], NOT_INTEGER],
      ];
      for (const [words, reply] of cases) expect(await call(...words), words.join(' ')).toEqual(reply);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v', 100]);
    });

    it('are taken up to the edge of a 64-bit time', async () => {
      await call('SET', 'k', 'v');
      expect(await calls(['PEXPIREAT', 'k', '9223372036854770000'], ['PEXPIRETIME', 'k'])).toEqual([1, 9223372036854770000]);
      expect((await request(t.client, 'PEXPIRETIME', 'k')).raw).toBe(':9223372036854770000\r\n');
      expect(await call('EXPIREAT', 'k', '9223372036854775')).toBe(1);
      expect((await request(t.client, 'PEXPIRETIME', 'k')).raw).toBe(':9223372036854775000\r\n');
      expect(await calls(['EXPIRE', 'k', '-9223372036854775'], ['EXISTS', 'k'])).toEqual([1, 0]);
      await call('SET', 'k', 'v');
      expect(await calls(['PEXPIRE', 'k', '-9223372036854775808'], ['EXISTS', 'k'])).toEqual([1, 0]);
    });

    it('a time near 2^63 ms is kept to double precision, and answered within the int64 range', async () => {
      const LLONG_MAX = 9223372036854775807n;
      for (const words of [['SET', 'k', 'v', 'PXAT', '9223372036854775807'], ['PEXPIREAT', 'k', '9223372036854775807']]) {
        await call('SET', 'k', 'v');
        await call(...words);
        const at = BigInt((await request(t.client, 'PEXPIRETIME', 'k')).raw.slice(1, -2));
        expect(at <= LLONG_MAX && at > LLONG_MAX - 2048n, `${words.join(' ')}: ${at}`).toBe(true);
        expect(await call('GET', 'k')).toBe('v');
      }
    });
  });

  describe('GETEX options', () => {
    it("GETEX reads its options in Redis 7's order: syntax, then the key, then the time", async () => {
      await call('SET', 'k', 'v');
      // The same option again is allowed and the last one counts; another option is a syntax error.
      expect(await calls(['GETEX', 'k', 'EX', '10', 'EX', '20'], ['TTL', 'k'])).toEqual(['v', 20]);
      expect(await call('GETEX', 'k', 'PERSIST', 'PERSIST')).toBe('v');
      expect(await call('GETEX', 'k', 'EX', '10', 'PX', '20')).toEqual(SYNTAX);
      expect(await call('GETEX', 'k', 'PERSIST', 'EX', '10')).toEqual(SYNTAX);
      expect(await call('GETEX', 'k', 'EX', '0', 'PX', '10')).toEqual(SYNTAX);
      expect(await call('GETEX', 'k', 'KEEPTTL')).toEqual(SYNTAX);
      expect(await call('GETEX', 'k', 'EX')).toEqual(SYNTAX);
      // A missing key is nil whatever the time says; an existing one gets the time's error.
      expect(await calls(['GETEX', 'nokey', 'EX', '0'], ['GETEX', 'nokey', 'EX', 'abc'])).toEqual([null, null]);
      expect(await calls(['GETEX', 'k', 'EX', '0'], ['GETEX', 'k', 'EX', 'abc'])).toEqual([invalidExpire('getex'), NOT_INTEGER]);
      expect(await call('TTL', 'k')).toBe(-1);
    });
  });
});

