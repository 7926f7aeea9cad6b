import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Proc } from '../../bench/lib/procs.js';
import { havePeer } from '../helpers/peers.js';
import { startRedis7 } from '../helpers/redis-peer.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request } from './resp-reader.js';

/**
 * A differential test of the string commands (issue 12): the same commands go to a
 * real redis-server 7 and to dualkv over raw RESP sockets, scripted and as random
 * fast-check sequences, and the raw reply bytes must be the same. dualkv runs with
 * --max-value-size at Redis's proto-max-bulk-len (512 MiB), so that the limits agree.
 *
 * One difference is by design: a result over the limit is refused by both, dualkv
 * adding the limit and how to raise it after Redis's words (docs/PROTOCOL.md §2.2).
 * Times are absolute and far away (EXPIREAT, EXPIRETIME), so that no answer depends
 * on the clock.
 */

/** 2100-01-01T00:00:00Z, in seconds. */
const FAR = '4102444800';
const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;
const TOO_LARGE = '-ERR string exceeds maximum allowed size (proto-max-bulk-len)';

/** Byte for byte, but for the one error dualkv words longer (it keeps Redis's words first). */
function sameReply(theirs: string, ours: string): boolean {
  return theirs === ours || (theirs === `${TOO_LARGE}\r\n` && ours.startsWith(`${TOO_LARGE}: `) && ours.endsWith('(raise --max-value-size)\r\n'));
}

describe.skipIf(!havePeer('redis-server', 'redis-server'))('the string commands against a real redis-server 7, reply byte for reply byte', () => {
  const fx = serverFixture();
  let redis: Proc;
  let redisClient: RawClient;
  let kv: RawClient;

  beforeAll(async () => {
    ({ redis, client: redisClient } = await startRedis7());
  });
  afterAll(async () => {
    redisClient?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    expect((await request(redisClient, 'FLUSHALL')).raw).toBe('+OK\r\n');
    kv = await fx.connect({ logOps: false, limits: { maxValueSize: PROTO_MAX_BULK_LEN } });
    kv.socket.setNoDelay(true);
  });

  /** Runs the commands on both, one at a time; every one where the two differ. */
  async function differences(script: ReadonlyArray<readonly string[]>): Promise<string[]> {
    const out: string[] = [];
    for (const words of script) {
      const [theirs, ours] = await Promise.all([request(redisClient, ...words), request(kv, ...words)]);
      if (!sameReply(theirs.raw, ours.raw)) out.push(`${JSON.stringify(words)}: redis ${JSON.stringify(theirs.raw)}, dualkv ${JSON.stringify(ours.raw)}`);
    }
    return out;
  }

  it('INCR, DECR, INCRBY, DECRBY: values, edges of the 64-bit range, what is not an integer', async () => {
    const script: string[][] = [['INCR', 'n'], ['DECR', 'n'], ['DECR', 'n'], ['INCRBY', 'n', '17179869184'], ['DECRBY', 'n', '17179869185'], ['GET', 'n']];
    const edges: Array<[string, string]> = [
      ['9223372036854775806', '1'],
      ['9223372036854775807', '1'],
      ['-9223372036854775807', '-1'],
      ['-9223372036854775808', '-1'],
      ['0', '-9223372036854775808'],
      ['-1', '-9223372036854775808'],
      ['1', '9223372036854775807'],
      ['9007199254740992', '1'],
      ['-9007199254740993', '-2'],
    ];
    for (const [start, step] of edges) {
      script.push(['SET', 'k', start], ['INCRBY', 'k', step], ['DECRBY', 'k', step], ['INCR', 'k'], ['DECR', 'k'], ['GET', 'k']);
    }
    for (const bad of [' 1', '1 ', '+1', '01', '-0', '00', '1.0', '', 'abc', '1e3', '0x1', '9223372036854775808', '-9223372036854775809', '99999999999999999999', '1\x00']) {
      script.push(['SET', 'k', bad], ['INCR', 'k'], ['INCRBY', 'n', bad], ['DECRBY', 'n', bad]);
    }
    script.push(['SET', 'k', '5'], ['EXPIREAT', 'k', FAR], ['INCR', 'k'], ['INCRBY', 'k', '10'], ['EXPIRETIME', 'k']);
    expect(await differences(script)).toEqual([]);
  });

  it('INCRBYFLOAT: sums, formats, what is not a float, infinities, and the expiry', async () => {
    const script: string[][] = [];
    const pairs: Array<[string | null, string]> = [
      ['10.5', '0.1'],
      ['5.0e3', '2.0e2'],
      ['1e10', '0.1'],
      [null, '1e20'],
      [null, '0x10'],
      [null, '0x1.8p3'],
      [null, '-0x.8p-1'],
      [null, '1.23456789012345678901'],
      [null, '123456789012345678901234567890'],
      ['0.1', '0.2'],
      ['1', '-1.1'],
      [null, '1e-30'],
      [null, '5e-18'],
      [null, '7.5e-18'],
      [null, '0.000003814697265625'],
      ['9223372036854775807', '1'],
      ['1e308', '1e308'],
      ['1e4000', '1e4000'],
      ['1.1e4932', '1e4931'],
      ['1e4932', '1e4932'],
      ['-0', '-0'],
      ['1.5', '-1.5'],
      [null, '.5'],
      [null, '5.'],
      [null, '+1.5'],
      [null, '1E+3'],
      [null, ' 1'],
      [null, '1 '],
      [null, 'nan'],
      [null, 'inf'],
      [null, '-Infinity'],
      [null, '1e5000'],
      [null, '1e-5000'],
      [null, '1e'],
      [null, '0x'],
      [null, ''],
      ['inf', '1'],
      [' 11', '1'],
      ['11 ', '1'],
      ['1\x002', '1'],
      ['abc', '1'],
    ];
    for (const [base, incr] of pairs) {
      script.push(['DEL', 'f']);
      if (base !== null) script.push(['SET', 'f', base]);
      script.push(['INCRBYFLOAT', 'f', incr], ['GET', 'f']);
    }
    script.push(['DEL', 'f'], ['INCRBYFLOAT', 'f', String(1 / 41)], ['INCRBYFLOAT', 'f', String(-1 / 41)], ['GET', 'f']);
    script.push(['SET', 'f', '1'], ['EXPIREAT', 'f', FAR], ['INCRBYFLOAT', 'f', '0.5'], ['EXPIRETIME', 'f']);
    expect(await differences(script)).toEqual([]);
  });

  it('APPEND, STRLEN, GETRANGE, SUBSTR and SETRANGE', async () => {
    const script: string[][] = [
      ['APPEND', 'e', ''],
      ['EXISTS', 'e'],
      ['STRLEN', 'e'],
      ['APPEND', 'a', 'Hello'],
      ['APPEND', 'a', ' World'],
      ['STRLEN', 'a'],
      ['STRLEN', 'nokey'],
      ['SET', 'i', '-555'],
      ['STRLEN', 'i'],
      ['APPEND', 'i', '5'],
    ];
    const ranges: Array<[string, string]> = [
      ['0', '3'],
      ['0', '-1'],
      ['-4', '-1'],
      ['5', '3'],
      ['5', '5000'],
      ['-5000', '10000'],
      ['-1', '-5'],
      ['10', '10'],
      ['11', '20'],
      ['0', '4294967297'],
      ['-9223372036854775807', '-9223372036854775808'],
      ['-9223372036854775808', '9223372036854775807'],
      ['9223372036854775808', '1'],
      ['1', 'x'],
    ];
    for (const [s, e] of ranges) {
      script.push(['GETRANGE', 'a', s, e], ['SUBSTR', 'a', s, e], ['GETRANGE', 'nokey', s, e], ['GETRANGE', 'e', s, e]);
    }
    script.push(
      ['SETRANGE', 'r', '0', 'foo'],
      ['SETRANGE', 'r', '1', 'b'],
      ['SETRANGE', 'r', '4', 'bar'],
      ['GET', 'r'],
      ['SETRANGE', 'r', '1', ''],
      ['SETRANGE', 'r', '100', ''],
      ['SETRANGE', 'z', '0', ''],
      ['EXISTS', 'z'],
      ['SETRANGE', 'z', '3', 'x'],
      ['GET', 'z'],
      ['SETRANGE', 'r', '-1', 'x'],
      ['SETRANGE', 'r', 'x', 'x'],
      ['SETRANGE', 'r', '9223372036854775808', 'x'],
      ['SETRANGE', 'r', '9223372036854775807', 'x'],
      ['SETRANGE', 'r', '2147483647', 'x'],
      ['SETRANGE', 'r', String(PROTO_MAX_BULK_LEN - 4), 'world'],
      ['SETRANGE', 'nokey', String(PROTO_MAX_BULK_LEN - 4), 'world'],
      ['EXISTS', 'nokey'],
      ['GET', 'r'],
      ['SET', 'r', 'hello'],
      ['EXPIREAT', 'r', FAR],
      ['SETRANGE', 'r', '0', 'J'],
      ['APPEND', 'r', '!'],
      ['GET', 'r'],
      ['EXPIRETIME', 'r'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('SETNX, GETSET, TYPE, TOUCH, and wrong numbers of arguments', async () => {
    const script: string[][] = [
      ['SETNX', 'k', 'a'],
      ['SETNX', 'k', 'b'],
      ['GET', 'k'],
      ['GETSET', 'k', 'c'],
      ['GETSET', 'g', 'x'],
      ['EXPIREAT', 'k', FAR],
      ['SETNX', 'k', 'd'],
      ['EXPIRETIME', 'k'],
      ['GETSET', 'k', 'e'],
      ['EXPIRETIME', 'k'],
      ['TYPE', 'k'],
      ['TYPE', 'nokey'],
      ['TOUCH', 'k', 'g', 'k', 'nokey'],
      ['TOUCH', 'nokey'],
      ...['INCR', 'DECR', 'INCRBY', 'DECRBY', 'INCRBYFLOAT', 'APPEND', 'STRLEN', 'GETRANGE', 'SUBSTR', 'SETRANGE', 'SETNX', 'GETSET', 'TYPE', 'TOUCH', 'LCS'].flatMap((c) => [
        [c],
        [c, 'k'],
        [c, 'k', '1'],
        [c, 'k', '1', '2'],
        [c, 'k', '1', '2', '3'],
      ]),
    ];
    expect(await differences(script)).toEqual([]);
  });

  it("LCS with each option, Redis's DNA example, and its errors", async () => {
    const rna1 =
      'CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG';
    const rna2 =
      'ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT';
    const script: string[][] = [['SET', 'v1', rna1], ['SET', 'v2', rna2], ['SET', 'a', 'ohmytext'], ['SET', 'b', 'mynewtext'], ['SET', 'e', '']];
    const options = [[], ['LEN'], ['IDX'], ['IDX', 'WITHMATCHLEN'], ['IDX', 'MINMATCHLEN', '5'], ['WITHMATCHLEN', 'IDX', 'MINMATCHLEN', '2'], ['idx', 'minmatchlen', '-1'], ['LEN', 'WITHMATCHLEN'], ['LEN', 'IDX'], ['IDX', 'LEN'], ['FOO'], ['MINMATCHLEN'], ['MINMATCHLEN', 'x'], ['FOO', 'MINMATCHLEN', 'x'], ['MINMATCHLEN', 'x', 'FOO'], ['MINMATCHLEN', '9223372036854775807', 'IDX']];
    for (const [x, y] of [
      ['v1', 'v2'],
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'nokey'],
      ['e', 'e'],
      ['a', 'a'],
    ]) {
      for (const o of options) script.push(['LCS', x as string, y as string, ...o]);
    }
    expect(await differences(script)).toEqual([]);
  });

  describe('random sequences of the string commands', () => {
    const KEYS = ['a', 'b', 'c', 'bin\x00\r\n\xff'];
    const key = fc.constantFrom(...KEYS);
    const integer = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
      { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) },
      { weight: 1, arbitrary: fc.constantFrom('9223372036854775807', '-9223372036854775808', '9223372036854775808', ' 1', '01', '+1', '-0', '1.5', '', 'x') },
    );
    const digits = (max: number) => fc.array(fc.constantFrom(...'0123456789'), { minLength: 1, maxLength: max }).map((d) => d.join(''));
    const float = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(fc.constantFrom('', '-', '+'), digits(12), digits(20)).map(([s, i, f]) => `${s}${i}.${f}`) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('', '-'), digits(4), fc.integer({ min: -40, max: 40 })).map(([s, m, e]) => `${s}${m}e${e}`) },
      { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: -70, max: 70 })).map(([m, e]) => `0x${m.toString(16)}p${e}`) },
      { weight: 1, arbitrary: fc.constantFrom('inf', '-inf', 'nan', ' 1', '1 ', '1e5000', '1e-5000', '', '.', '1e4931', '-1e4931') },
    );
    const value = fc.oneof(
      integer,
      float,
      fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'x', ' ', '\x00', '\xff'), maxLength: 12 }),
      fc.constantFrom('ohmytext', 'mynewtext', ''),
    );
    const index = fc.oneof(fc.integer({ min: -20, max: 20 }).map(String), integer);
    const offset = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }).map(String) }, { weight: 1, arbitrary: integer });
    const lcsOption = fc.oneof(
      fc.constantFrom(['LEN'], ['IDX'], ['WITHMATCHLEN'], ['len'], ['idx'], ['FOO']),
      fc.tuple(fc.constant('MINMATCHLEN'), fc.oneof(fc.integer({ min: -2, max: 6 }).map(String), fc.constantFrom('x', ''))),
    );
    const command = fc.oneof(
      fc.tuple(fc.constantFrom('INCR', 'DECR'), key),
      fc.tuple(fc.constantFrom('INCRBY', 'DECRBY'), key, integer),
      fc.tuple(fc.constant('INCRBYFLOAT'), key, float),
      fc.tuple(fc.constantFrom('APPEND', 'SETNX', 'GETSET', 'SET'), key, value),
      fc.tuple(fc.constantFrom('STRLEN', 'GET', 'TYPE', 'EXPIRETIME', 'PERSIST'), key),
      fc.tuple(fc.constantFrom('GETRANGE', 'SUBSTR'), key, index, index),
      fc.tuple(fc.constant('SETRANGE'), key, offset, value),
      fc.tuple(fc.constant('EXPIREAT'), key, fc.constant(FAR)),
      fc.tuple(fc.constant('TOUCH'), fc.array(key, { minLength: 1, maxLength: 4 })).map(([c, ks]) => [c, ...ks]),
      fc.tuple(fc.constant('LCS'), key, key, fc.array(lcsOption, { maxLength: 3 })).map(([c, a, b, o]) => [c, a, b, ...o.flat()]),
    );

    it('answer the same as Redis 7 at every step', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60, size: 'max' }), async (commands) => {
          await request(redisClient, 'DEL', ...KEYS);
          await request(kv, 'DEL', ...KEYS);
          const problems = await differences(commands.map((c) => c.flat()));
          // The first difference is the one to read: later ones may follow from it.
          expect(problems.slice(0, 1)).toEqual([]);
        }),
        { numRuns: 100 },
      );
    });
  });
});
