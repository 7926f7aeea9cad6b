import { describe, expect, it } from 'vitest';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { clockedServer, err, NOT_INTEGER, OK, SYNTAX } from './clocked-server.js';

/**
 * The string commands (issue 12), as Redis 7.0 answers them: the INCR family,
 * INCRBYFLOAT, APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE, SETNX, GETSET, TYPE, TOUCH,
 * LCS. Over real sockets to an in-process server on a clock the test moves. Redis's
 * own answers to the same and more are in test/frontends/redis-strings-differential.test.ts;
 * the limits, versions and the text dialect are in strings-limits.test.ts.
 */

const OVERFLOW = err('increment or decrement would overflow');
const NOT_FLOAT = err('value is not a valid float');

describe('the string commands over RESP', () => {
  const t = clockedServer();
  const { call, calls } = t;
  /** The reply's bytes: 64-bit integers are compared whole, not as doubles. */
  const raw = async (...words: string[]): Promise<string> => (await request(t.client, ...words)).raw;

  describe('INCR, DECR, INCRBY, DECRBY', () => {
    it('count from 0 on a missing key and store the decimal', async () => {
      expect(await calls(['INCR', 'n'], ['INCR', 'n'], ['DECR', 'n'], ['INCRBY', 'n', '10'], ['DECRBY', 'n', '4'], ['GET', 'n'])).toEqual([1, 2, 1, 11, 7, '7']);
      expect(await calls(['DECR', 'm'], ['INCRBY', 'm', '-5'], ['DECRBY', 'm', '-9'], ['GET', 'm'])).toEqual([-1, -6, 3, '3']);
      expect(await calls(['SET', 'k', '100'], ['INCR', 'k'], ['SET', 'k', '17179869184'], ['INCRBY', 'k', '17179869184'])).toEqual([OK, 101, OK, 34359738368]);
    });

    it('count in 64 bits, exactly past 2^53', async () => {
      await call('SET', 'k', '9007199254740992');
      expect(await raw('INCR', 'k')).toBe(':9007199254740993\r\n');
      expect(await raw('INCRBY', 'k', '9223372036854775807')).toBe(`-ERR increment or decrement would overflow\r\n`);
      await call('SET', 'k', '9223372036854775806');
      expect(await raw('INCR', 'k')).toBe(':9223372036854775807\r\n');
      expect(await call('GET', 'k')).toBe('9223372036854775807');
      await call('SET', 'k', '-9223372036854775807');
      expect(await raw('DECR', 'k')).toBe(':-9223372036854775808\r\n');
      expect(await raw('INCRBY', 'k', '9223372036854775807')).toBe(':-1\r\n');
      expect(await raw('INCRBY', 'k', '-9223372036854775808')).toBe('-ERR increment or decrement would overflow\r\n');
      expect(await raw('DECRBY', 'k', '9223372036854775807')).toBe(':-9223372036854775808\r\n');
    });

    it('refuse to overflow either way, and leave the value as it was', async () => {
      await call('SET', 'k', '9223372036854775807');
      expect(await calls(['INCR', 'k'], ['INCRBY', 'k', '1'], ['DECRBY', 'k', '-1'], ['GET', 'k'])).toEqual([OVERFLOW, OVERFLOW, OVERFLOW, '9223372036854775807']);
      await call('SET', 'k', '-9223372036854775808');
      expect(await calls(['DECR', 'k'], ['INCRBY', 'k', '-1'], ['DECRBY', 'k', '1'], ['GET', 'k'])).toEqual([OVERFLOW, OVERFLOW, OVERFLOW, '-9223372036854775808']);
      // Redis 7.0's own text for the one decrement whose negation does not exist.
      expect(await calls(['SET', 'z', '0'], ['DECRBY', 'z', '-9223372036854775808'], ['GET', 'z'])).toEqual([OK, err('decrement would overflow'), '0']);
      expect(await raw('INCRBY', 'z', '-9223372036854775808')).toBe(':-9223372036854775808\r\n');
    });

    it("refuse a value or an increment that string2ll does not read as an integer", async () => {
      for (const bad of [' 1', '1 ', '+1', '01', '-0', '1.5', '', 'abc', '1e3', '0x10', '9223372036854775808', '-9223372036854775809', '1\x00']) {
        await call('SET', 'k', bad);
        expect(await calls(['INCR', 'k'], ['DECRBY', 'k', '1'], ['GET', 'k']), JSON.stringify(bad)).toEqual([NOT_INTEGER, NOT_INTEGER, bad]);
        expect(await call('INCRBY', 'n', bad), JSON.stringify(bad)).toEqual(NOT_INTEGER);
      }
      expect(await call('EXISTS', 'n')).toBe(0);
    });

    it('keep the expiry, and never bring an expired key back', async () => {
      await call('SET', 'k', '5', 'EX', '100');
      t.clock.advance(40_000);
      expect(await calls(['INCR', 'k'], ['INCRBY', 'k', '3'], ['DECR', 'k'], ['DECRBY', 'k', '2'], ['TTL', 'k'])).toEqual([6, 9, 8, 6, 60]);
      t.clock.advance(60_001);
      expect(await calls(['INCR', 'k'], ['TTL', 'k'])).toEqual([1, -1]);
    });
  });

  describe('INCRBYFLOAT', () => {
    it("adds in long doubles and stores Redis's printing of the sum (no exponent, no trailing zeros)", async () => {
      expect(await calls(['SET', 'f', '10.5'], ['INCRBYFLOAT', 'f', '0.1'], ['GET', 'f'])).toEqual([OK, '10.6', '10.6']);
      expect(await calls(['SET', 'f', '5.0e3'], ['INCRBYFLOAT', 'f', '2.0e2'])).toEqual([OK, '5200']);
      expect(await calls(['INCRBYFLOAT', 'g', '1e10'], ['INCRBYFLOAT', 'g', '0.1'])).toEqual(['10000000000', '10000000000.09999999962747097']);
      expect(await calls(['SET', 'h', '17179869184'], ['INCRBYFLOAT', 'h', '1.5'], ['INCRBYFLOAT', 'h', '-0.5'])).toEqual([OK, '17179869185.5', '17179869185']);
      expect(await calls(['INCRBYFLOAT', 'z', String(1 / 41)], ['INCRBYFLOAT', 'z', String(-1 / 41)])).toEqual(['0.02439024390243902', '0']);
    });

    it('refuses what is not a float and a result that is not finite, leaving the key as it was', async () => {
      await call('SET', 'k', '1.5');
      for (const bad of [' 1', '1 ', 'nan', 'abc', '', '1e5000', '1,5']) expect(await call('INCRBYFLOAT', 'k', bad), JSON.stringify(bad)).toEqual(NOT_FLOAT);
      expect(await call('INCRBYFLOAT', 'k', '+inf')).toEqual(err('increment would produce NaN or Infinity'));
      expect(await call('GET', 'k')).toBe('1.5');
      await call('SET', 'k', ' 11 ');
      expect(await calls(['INCRBYFLOAT', 'k', '1'], ['GET', 'k'])).toEqual([NOT_FLOAT, ' 11 ']);
    });

    it('keeps the expiry', async () => {
      await call('SET', 'k', '1', 'PX', '5000');
      t.clock.advance(1000);
      expect(await calls(['INCRBYFLOAT', 'k', '0.5'], ['PTTL', 'k'])).toEqual(['1.5', 4000]);
    });
  });

  describe('APPEND and STRLEN', () => {
    it('APPEND creates the key (even with nothing to append), appends bytes, answers the length', async () => {
      expect(await calls(['APPEND', 'k', ''], ['EXISTS', 'k'], ['GET', 'k'])).toEqual([0, 1, '']);
      expect(await calls(['APPEND', 'k', 'Hello'], ['APPEND', 'k', ' World'], ['GET', 'k'], ['STRLEN', 'k'])).toEqual([5, 11, 'Hello World', 11]);
      expect(await calls(['APPEND', 'b', '\x00\r\n'], ['APPEND', 'b', '\xff'], ['GET', 'b'], ['STRLEN', 'b'])).toEqual([3, 4, '\x00\r\n\xff', 4]);
    });

    it('APPEND keeps the expiry; STRLEN is 0 for a missing or expired key', async () => {
      await call('SET', 'k', 'v', 'EX', '10');
      expect(await calls(['APPEND', 'k', 'w'], ['TTL', 'k'], ['STRLEN', 'k'], ['STRLEN', 'nokey'])).toEqual([2, 10, 2, 0]);
      t.clock.advance(10_001);
      expect(await calls(['STRLEN', 'k'], ['APPEND', 'k', 'x'], ['TTL', 'k'])).toEqual([0, 1, -1]);
    });
  });

  describe('GETRANGE and SUBSTR', () => {
    it("take an inclusive range, negative from the end, as Redis 7.0's getrangeCommand", async () => {
      await call('SET', 'k', 'Hello World');
      const ranges: Array<[string, string, string]> = [
        ['0', '3', 'Hell'],
        ['0', '-1', 'Hello World'],
        ['-4', '-1', 'orld'],
        ['5', '3', ''],
        ['5', '5000', ' World'],
        ['-5000', '10000', 'Hello World'],
        ['-1', '-5', ''],
        ['10', '10', 'd'],
        ['11', '20', ''],
        ['0', '4294967297', 'Hello World'],
        ['-9223372036854775807', '-9223372036854775808', ''],
        ['-9223372036854775808', '9223372036854775807', 'Hello World'],
      ];
      for (const [start, end, want] of ranges) {
        expect(await calls(['GETRANGE', 'k', start, end], ['SUBSTR', 'k', start, end]), `${start} ${end}`).toEqual([want, want]);
      }
    });

    it('answer the empty string for a missing key or an empty value, and refuse a non-integer index first', async () => {
      await call('SET', 'e', '');
      expect(await calls(['GETRANGE', 'nokey', '0', '-1'], ['GETRANGE', 'e', '0', '-1'], ['GETRANGE', 'e', '-1', '0'])).toEqual(['', '', '']);
      expect(await calls(['GETRANGE', 'nokey', 'a', '1'], ['GETRANGE', 'nokey', '0', '1.0'], ['GETRANGE', 'nokey', '0', '9223372036854775808'])).toEqual([
        NOT_INTEGER,
        NOT_INTEGER,
        NOT_INTEGER,
      ]);
    });
  });

  describe('SETRANGE', () => {
    it('overwrites at the offset, pads with zero bytes past the end, answers the new length', async () => {
      expect(await calls(['SETRANGE', 'k', '0', 'foo'], ['SETRANGE', 'k', '1', 'b'], ['GET', 'k'])).toEqual([3, 3, 'fbo']);
      expect(await calls(['SETRANGE', 'k', '4', 'bar'], ['GET', 'k'])).toEqual([7, 'fbo\x00bar']);
      expect(await calls(['SETRANGE', 'n', '2', 'x'], ['GET', 'n'])).toEqual([3, '\x00\x00x']);
      expect(await calls(['SET', 'i', '1234'], ['SETRANGE', 'i', '5', '2'], ['GET', 'i'])).toEqual([OK, 6, '1234\x002']);
    });

    it('with an empty value changes nothing: the length, or 0 and no key', async () => {
      await call('SET', 'k', 'foo');
      const version = ((await call('GETVER', 'k')) as RespValue[])[1];
      expect(await calls(['SETRANGE', 'k', '10', ''], ['GET', 'k'], ['SETRANGE', 'nokey', '0', ''], ['EXISTS', 'nokey'])).toEqual([3, 'foo', 0, 0]);
      expect(((await call('GETVER', 'k')) as RespValue[])[1]).toBe(version);
    });

    it('refuses a bad or negative offset before it looks at the key', async () => {
      await call('SET', 'k', 'hello');
      expect(await calls(['SETRANGE', 'k', '-1', 'w'], ['SETRANGE', 'k', 'x', 'w'], ['SETRANGE', 'k', '9223372036854775808', 'w'], ['GET', 'k'])).toEqual([
        err('offset is out of range'),
        NOT_INTEGER,
        NOT_INTEGER,
        'hello',
      ]);
    });

    it('keeps the expiry', async () => {
      await call('SET', 'k', 'hello', 'EX', '50');
      expect(await calls(['SETRANGE', 'k', '0', 'J'], ['GET', 'k'], ['TTL', 'k'])).toEqual([5, 'Jello', 50]);
    });
  });

  describe('SETNX and GETSET', () => {
    it('SETNX stores only when the key is missing (or expired), without an expiry', async () => {
      expect(await calls(['SETNX', 'k', 'a'], ['SETNX', 'k', 'b'], ['GET', 'k'])).toEqual([1, 0, 'a']);
      await call('SET', 'x', '10', 'EX', '10');
      expect(await calls(['SETNX', 'x', '20'], ['GET', 'x'], ['TTL', 'x'])).toEqual([0, '10', 10]);
      t.clock.advance(10_001);
      expect(await calls(['SETNX', 'x', '20'], ['GET', 'x'], ['TTL', 'x'])).toEqual([1, '20', -1]);
    });

    it('GETSET answers the old value (or nil), stores the new one and clears the expiry, as SET does', async () => {
      expect(await calls(['GETSET', 'k', 'xyz'], ['GET', 'k'])).toEqual([null, 'xyz']);
      await call('SET', 'k', 'bar', 'EX', '100');
      expect(await calls(['GETSET', 'k', 'baz'], ['GET', 'k'], ['TTL', 'k'])).toEqual(['bar', 'baz', -1]);
    });
  });

  describe('TYPE and TOUCH', () => {
    it('TYPE is string or none (an expired key is none)', async () => {
      await calls(['SET', 'k', 'v'], ['SET', 'e', 'v', 'PX', '10']);
      t.clock.advance(11);
      expect(await raw('TYPE', 'k')).toBe('+string\r\n');
      expect(await calls(['TYPE', 'nokey'], ['TYPE', 'e'])).toEqual([{ status: 'none' }, { status: 'none' }]);
    });

    it('TOUCH counts the keys that exist, a key named twice twice', async () => {
      await calls(['SET', 'a', '1'], ['SET', 'b', '2'], ['SET', 'e', 'v', 'PX', '10']);
      t.clock.advance(11);
      expect(await calls(['TOUCH', 'a', 'b', 'a', 'nokey', 'e'], ['TOUCH', 'nokey'], ['EXISTS', 'e'])).toEqual([3, 0, 0]);
    });
  });

  describe('LCS', () => {
    it("answers the subsequence, its LEN, or the matching runs (IDX), as Redis 7.0's example", async () => {
      await calls(['SET', 'key1', 'ohmytext'], ['SET', 'key2', 'mynewtext']);
      expect(await calls(['LCS', 'key1', 'key2'], ['LCS', 'key1', 'key2', 'LEN'])).toEqual(['mytext', 6]);
      expect(await call('LCS', 'key1', 'key2', 'IDX')).toEqual([
        'matches',
        [
          [[4, 7], [5, 8]],
          [[2, 3], [0, 1]],
        ],
        'len',
        6,
      ]);
      expect(await call('LCS', 'key1', 'key2', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN')).toEqual(['matches', [[[4, 7], [5, 8], 4]], 'len', 6]);
      expect(await call('lcs', 'key1', 'key2', 'withmatchlen', 'idx', 'minmatchlen', '-3')).toEqual([
        'matches',
        [
          [[4, 7], [5, 8], 4],
          [[2, 3], [0, 1], 2],
        ],
        'len',
        6,
      ]);
    });

    it('takes a missing key for the empty string', async () => {
      await call('SET', 'a', 'abc');
      expect(await calls(['LCS', 'a', 'nokey'], ['LCS', 'nokey', 'a', 'LEN'], ['LCS', 'x', 'y', 'IDX'])).toEqual(['', 0, ['matches', [], 'len', 0]]);
    });

    it("refuses bad options with Redis's texts, in Redis's order", async () => {
      expect(
        await calls(
          ['LCS', 'a', 'b', 'LEN', 'IDX'],
          ['LCS', 'a', 'b', 'FOO'],
          ['LCS', 'a', 'b', 'MINMATCHLEN'],
          ['LCS', 'a', 'b', 'MINMATCHLEN', 'x'],
          ['LCS', 'a', 'b', 'FOO', 'MINMATCHLEN', 'x'],
          ['LCS', 'a', 'b', 'MINMATCHLEN', 'x', 'FOO'],
          ['LCS', 'a'],
        ),
      ).toEqual([
        err('If you want both the length and indexes, please just use IDX.'),
        SYNTAX,
        SYNTAX,
        NOT_INTEGER,
        SYNTAX,
        NOT_INTEGER,
        err("wrong number of arguments for 'lcs' command"),
      ]);
    });
  });

  it("answer a wrong number of arguments as Redis does", async () => {
    const arities: Array<[string, ...string[]]> = [
      ['INCR'],
      ['INCR', 'a', 'b'],
      ['DECR'],
      ['INCRBY', 'a'],
      ['DECRBY', 'a', '1', '2'],
      ['INCRBYFLOAT', 'a'],
      ['APPEND', 'a'],
      ['STRLEN'],
      ['GETRANGE', 'a', '0'],
      ['SUBSTR', 'a', '0', '1', '2'],
      ['SETRANGE', 'a', '0'],
      ['SETNX', 'a'],
      ['GETSET', 'a', 'b', 'c'],
      ['TYPE'],
      ['TOUCH'],
    ];
    for (const words of arities) expect(await call(...words)).toEqual(err(`wrong number of arguments for '${words[0].toLowerCase()}' command`));
  });
});

describe('SETBIT and GETBIT', () => {
  const t = clockedServer();
  const { call, calls } = t;

  it("set and read bits as Redis does: bit 0 is the high bit of byte 0, the string grows with zeros, the TTL stays", async () => {
    expect(await calls(['SETBIT', 'b', '1', '1'], ['GET', 'b'], ['SETBIT', 'b', '1', '1'], ['SETBIT', 'b', '1', '0'], ['SETBIT', 'b', '23', '1'], ['STRLEN', 'b'])).toEqual([
      0,
      '\x40',
      1,
      1,
      0,
      3,
    ]);
    expect(await calls(['GETBIT', 'b', '23'], ['GETBIT', 'b', '22'], ['GETBIT', 'b', '1000'], ['GETBIT', 'nope', '0'])).toEqual([1, 0, 0, 0]);
    await call('SET', 'ttl', 'a', 'EX', '100');
    expect(await calls(['SETBIT', 'ttl', '0', '1'], ['GET', 'ttl'], ['TTL', 'ttl'])).toEqual([0, '\xe1', 100]);
  });

  it('refuses a bad offset or bit with Redis\'s texts, and an offset past --max-value-size', async () => {
    const max = t.srv.server.ctx.limits.maxValueSize;
    expect(
      await calls(['SETBIT', 'b', '-1', '1'], ['SETBIT', 'b', 'x', '1'], ['SETBIT', 'b', '0', '2'], ['SETBIT', 'b', '0', '-1'], ['GETBIT', 'b', '-1'], ['SETBIT', 'b', String(max * 8), '1'], ['SETBIT', 'b', String(max * 8 - 1), '1']),
    ).toEqual([
      err('bit offset is not an integer or out of range'),
      err('bit offset is not an integer or out of range'),
      err('bit is not an integer or out of range'),
      err('bit is not an integer or out of range'),
      err('bit offset is not an integer or out of range'),
      err('bit offset is not an integer or out of range'),
      0,
    ]);
    expect(await call('STRLEN', 'b')).toBe(max);
  });
});
