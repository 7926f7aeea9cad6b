import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Proc } from '../../bench/lib/procs.js';
import { havePeer } from '../helpers/peers.js';
import { startRedis7 } from '../helpers/redis-peer.js';
import { serverFixture } from '../helpers/server.js';
import { RawClient } from '../helpers/socket.js';
import { request } from './resp-reader.js';

/**
 * A differential test: the same scripted keyspace commands (docs/PROTOCOL.md §2.2,
 * the ones Redis 7 has) go to a real redis-server and to dualkv over raw RESP
 * sockets, and the raw reply bytes must be the same.
 *
 * Times: absolute times are far in the future and relative TTLs long, so that both
 * answer the same. Where an answer depends on the clock (TTL, PTTL, EXPIRETIME after a
 * relative EXPIRE) it is compared with a tolerance, marked `near` in the scripts.
 * Not here: Valkey's IFEQ and DELIFEQ and dualkv's GETVER, CAS and CAD, which Redis 7
 * does not have (test/commands/versions.test.ts covers them).
 */

/** 2100-01-01T00:00:00Z, in seconds. */
const FAR = 4_102_444_800;
const FAR_MS = FAR * 1000;

interface Step {
  readonly words: readonly string[];
  /** Compare as integers within this much, not byte for byte: the answer depends on the clock. */
  readonly within?: bigint;
}

/** A step whose integer answer depends on the clock (or, past 2^53 ms, on double precision). */
const near = (within: number, ...words: string[]): Step => ({ words, within: BigInt(within) });
const steps = (...commands: Array<string[] | Step>): Step[] => commands.map((c) => (Array.isArray(c) ? { words: c } : c));

const intReply = (raw: string): bigint | null => (/^:-?\d+\r\n$/.test(raw) ? BigInt(raw.slice(1, -2)) : null);

describe.skipIf(!havePeer('redis-server', 'redis-server'))('dualkv against a real redis-server 7, reply byte for reply byte', () => {
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
    kv = await fx.connect();
  });

  /** Runs the steps on both, one at a time, and answers every step where the two differ. */
  async function differences(script: Step[]): Promise<string[]> {
    const out: string[] = [];
    for (const step of script) {
      const [theirs, ours] = await Promise.all([request(redisClient, ...step.words), request(kv, ...step.words)]);
      const a = intReply(theirs.raw);
      const b = intReply(ours.raw);
      const same =
        step.within === undefined ? theirs.raw === ours.raw : a !== null && b !== null && (a > b ? a - b : b - a) <= step.within;
      if (!same) out.push(`${step.words.join(' ')}: redis ${JSON.stringify(theirs.raw)}, dualkv ${JSON.stringify(ours.raw)}`);
    }
    return out;
  }

  it('SET with every option, alone and together, and its errors', async () => {
    const script = steps(
      ['SET', 'k', 'v'],
      ['SET', 'k', 'v2', 'NX'],
      ['SET', 'n', 'v', 'NX'],
      ['SET', 'x', 'v', 'XX'],
      ['SET', 'k', 'v3', 'XX'],
      ['SET', 'k', 'v4', 'GET'],
      ['SET', 'g', 'v', 'GET'],
      ['SET', 'k', 'v5', 'NX', 'GET'],
      ['SET', 'k', 'v5', 'XX', 'GET', 'EX', '100'],
      near(1, 'TTL', 'k'),
      ['SET', 'k', 'v6', 'KEEPTTL'],
      near(1, 'TTL', 'k'),
      ['SET', 'k', 'v7', 'KEEPTTL', 'XX', 'GET'],
      ['SET', 'k', 'v8'],
      ['TTL', 'k'],
      ['SET', 'k', 'v', 'PX', '100000'],
      near(2000, 'PTTL', 'k'),
      ['SET', 'k', 'v', 'EXAT', String(FAR)],
      ['EXPIRETIME', 'k'],
      ['PEXPIRETIME', 'k'],
      ['SET', 'k', 'v', 'PXAT', String(FAR_MS + 123)],
      ['PEXPIRETIME', 'k'],
      ['EXPIRETIME', 'k'],
      ['SET', 'k', 'v', 'PXAT', String(FAR_MS + 500)],
      ['EXPIRETIME', 'k'],
      ['SET', 'k', 'v', 'ex', '10', 'EX', '20'],
      near(1, 'TTL', 'k'),
      ['SET', 'k', 'v', 'PX', '10', 'PX', '20', 'PX', '30000'],
      near(1, 'TTL', 'k'),
      ['SET', 'k', 'v', 'GET', 'GET'],
      ['SET', 'k', 'v', 'NX', 'NX'],
      ['SET', 'k', 'v', 'KEEPTTL', 'KEEPTTL'],
      // Conflicts and unknown options: a syntax error, before the time is read.
      ['SET', 'k', 'w', 'EX', '10', 'PX', '100'],
      ['SET', 'k', 'w', 'PX', '100', 'EX', '10'],
      ['SET', 'k', 'w', 'KEEPTTL', 'EX', '10'],
      ['SET', 'k', 'w', 'EX', '10', 'KEEPTTL'],
      ['SET', 'k', 'w', 'NX', 'XX'],
      ['SET', 'k', 'w', 'XX', 'NX'],
      ['SET', 'k', 'w', 'EXAT', '10', 'PXAT', '100'],
      ['SET', 'k', 'w', 'EX', '10', 'EXAT', '100'],
      ['SET', 'k', 'w', 'EX'],
      ['SET', 'k', 'w', 'FOO'],
      ['SET', 'k', 'w', 'PERSIST'],
      ['SET', 'k', 'w', 'EX', 'abc', 'FOO'],
      ['SET', 'k', 'w', 'EX', 'abc', 'PX', '10'],
      ['SET', 'k', 'w', 'NX', 'EX', 'abc'],
      ['GET', 'k'],
      // EXAT/PXAT in the past: OK, and the key is deleted.
      ['SET', 'k', 'w', 'EXAT', '1'],
      ['EXISTS', 'k'],
      ['SET', 'k', 'w'],
      ['SET', 'k', 'w2', 'PXAT', '1', 'GET'],
      ['GET', 'k'],
      ['SET', 'k', 'w3', 'PXAT', '1', 'GET'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('SETEX, PSETEX, GETEX and GETDEL', async () => {
    const script = steps(
      ['SETEX', 'k', '100', 'v'],
      near(1, 'TTL', 'k'),
      ['PSETEX', 'k', '100000', 'v2'],
      near(1, 'TTL', 'k'),
      ['GET', 'k'],
      ['SETEX', 'k', '100', 'v', 'x'],
      ['SETEX', 'k', '0', 'v'],
      ['SETEX', 'k', '-1', 'v'],
      ['SETEX', 'k', 'abc', 'v'],
      ['SETEX', 'k', '10.0', 'v'],
      ['PSETEX', 'k', '-5', 'v'],
      ['PSETEX', 'k', '9223372036854775807', 'v'],
      ['SETEX', 'k', '9223372036854775807', 'v'],
      ['SET', 'g', 'v'],
      ['GETEX', 'g'],
      ['GETEX', 'g', 'EX', '100'],
      near(1, 'TTL', 'g'),
      ['GETEX', 'g', 'PERSIST'],
      ['TTL', 'g'],
      ['GETEX', 'g', 'PX', '100000'],
      near(1, 'TTL', 'g'),
      ['GETEX', 'g', 'EXAT', String(FAR)],
      ['EXPIRETIME', 'g'],
      ['GETEX', 'g', 'PXAT', String(FAR_MS + 1)],
      ['PEXPIRETIME', 'g'],
      ['GETEX', 'g', 'EX', '10', 'EX', '20'],
      near(1, 'TTL', 'g'),
      ['GETEX', 'g', 'PERSIST', 'PERSIST'],
      ['GETEX', 'g', 'EXAT', String(FAR), 'EXAT', String(FAR + 1)],
      ['EXPIRETIME', 'g'],
      ['GETEX', 'g', 'EX', '10', 'PX', '20'],
      ['GETEX', 'g', 'PERSIST', 'EX', '10'],
      ['GETEX', 'g', 'EX', '10', 'PERSIST'],
      ['GETEX', 'g', 'EX', '0', 'PX', '10'],
      ['GETEX', 'g', 'EX', 'abc', 'EX', '10'],
      ['GETEX', 'g', 'EX', '10', 'EX', 'abc'],
      ['GETEX', 'g', 'EX', '0'],
      ['GETEX', 'g', 'EX', '9223372036854775807'],
      ['GETEX', 'g', 'GET'],
      ['GETEX', 'g', 'KEEPTTL'],
      ['GETEX', 'g', 'NX'],
      ['GETEX', 'g', 'EX'],
      ['GETEX', 'nokey', 'EX', '0'],
      ['GETEX', 'nokey', 'EX', 'abc'],
      ['GETEX', 'nokey', 'FOO'],
      ['GETEX', 'g', 'EXAT', '1'],
      ['EXISTS', 'g'],
      ['SET', 'd', 'v'],
      ['GETDEL', 'd'],
      ['GETDEL', 'd'],
      ['EXISTS', 'd'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with each of NX, XX, GT and LT, on keys with and without a TTL', async () => {
    const options = [[], ['NX'], ['XX'], ['GT'], ['LT'], ['XX', 'GT'], ['XX', 'LT'], ['GT', 'XX'], ['nx'], ['lt']];
    const script: Step[] = [];
    let n = 0;
    for (const withTtl of [false, true]) {
      for (const opts of options) {
        for (const seconds of [50, 100, 200, -1, 0]) {
          n++;
          // Relative: against a 100 s TTL, the TTL after compared within a second. Not the
          // same 100 s again: whether that is GT or LT depends on the milliseconds between.
          if (seconds !== 100) {
            const k = `r${n}`;
            script.push(...steps(['SET', k, 'v', ...(withTtl ? ['EX', '100'] : [])], ['EXPIRE', k, String(seconds), ...opts], near(1, 'TTL', k)));
            const p = `p${n}`;
            script.push(...steps(['SET', p, 'v', ...(withTtl ? ['PX', '100000'] : [])], ['PEXPIRE', p, String(seconds * 1000), ...opts], near(1, 'TTL', p)));
          }
          // Absolute: against an expiry at FAR + 100 s, exactly.
          const a = `a${n}`;
          const at = seconds > 0 ? FAR + seconds : seconds;
          script.push(
            ...steps(['SET', a, 'v', ...(withTtl ? ['EXAT', String(FAR + 100)] : [])], ['EXPIREAT', a, String(at), ...opts], ['EXPIRETIME', a]),
            ...steps(['SET', a, 'v', ...(withTtl ? ['EXAT', String(FAR + 100)] : [])], ['PEXPIREAT', a, String(at * 1000), ...opts], ['PEXPIRETIME', a]),
          );
        }
      }
    }
    script.push(
      ...steps(
        ['EXPIRE', 'nokey', '10'],
        ['EXPIRE', 'nokey', '10', 'XX'],
        ['EXPIRE', 'nokey', '-10'],
        ['EXPIRE', 'nokey', '10', 'NX', 'XX'],
        ['SET', 'k', 'v', 'EX', '100'],
        ['EXPIRE', 'k', '10', 'NX', 'XX'],
        ['EXPIRE', 'k', '10', 'NX', 'GT'],
        ['EXPIRE', 'k', '10', 'LT', 'NX'],
        ['EXPIRE', 'k', '10', 'GT', 'LT'],
        ['EXPIRE', 'k', '10', 'FOO'],
        ['EXPIRE', 'k', '10', 'FOO', 'NX', 'XX'],
        ['EXPIRE', 'k', '10', 'NX', 'XX', 'FOO'],
        ['EXPIRE', 'k', 'abc', 'NX', 'XX'],
        ['EXPIRE', 'k', 'abc', 'FOO'],
        ['EXPIRE', 'k', '10', 'NX', 'NX'],
        ['EXPIRE', 'k', '10', 'XX', 'XX'],
        near(1, 'TTL', 'k'),
      ),
    );
    expect(await differences(script)).toEqual([]);
  });

  it('TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST', async () => {
    const script = steps(
      ['TTL', 'nokey'],
      ['PTTL', 'nokey'],
      ['EXPIRETIME', 'nokey'],
      ['PEXPIRETIME', 'nokey'],
      ['PERSIST', 'nokey'],
      ['SET', 'k', 'v'],
      ['TTL', 'k'],
      ['PTTL', 'k'],
      ['EXPIRETIME', 'k'],
      ['PEXPIRETIME', 'k'],
      ['PERSIST', 'k'],
      ['EXPIRE', 'k', '100'],
      near(1, 'TTL', 'k'),
      near(2000, 'PTTL', 'k'),
      near(1, 'EXPIRETIME', 'k'),
      ['PERSIST', 'k'],
      ['PERSIST', 'k'],
      ['TTL', 'k'],
      ['PEXPIREAT', 'k', String(FAR_MS + 499)],
      ['EXPIRETIME', 'k'],
      ['PEXPIREAT', 'k', String(FAR_MS + 500)],
      ['EXPIRETIME', 'k'],
      ['PEXPIRETIME', 'k'],
      ['PERSIST', 'k'],
      ['GET', 'k'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it("times that are not integers, not positive or overflow: Redis 7's texts", async () => {
    const script = steps(
      ['SET', 'k', 'v', 'EX', '9223372036854775807'],
      ['SET', 'k', 'v', 'EX', '9223372036854775'],
      ['SET', 'k', 'v', 'EX', '9223372036854'],
      ['SET', 'k', 'v', 'PX', '9223372036854775807'],
      ['SET', 'k', 'v', 'EXAT', '9223372036854775807'],
      ['SET', 'k', 'v', 'EXAT', '9223372036854775'],
      ['SET', 'k', 'v', 'EX', '1.5'],
      ['SET', 'k', 'v', 'EX', '0'],
      ['SET', 'k', 'v', 'EX', '-1'],
      ['SET', 'k', 'v', 'EX', '+1'],
      ['SET', 'k', 'v', 'EX', '01'],
      ['SET', 'k', 'v', 'EX', ' 1'],
      ['SET', 'k', 'v', 'EX', ''],
      ['SET', 'k', 'v', 'EX', '99999999999999999999'],
      ['SET', 'k', 'v'],
      ['EXPIRE', 'k', '9223370399119966'],
      ['EXPIRE', 'k', '9223372036854775807'],
      ['EXPIRE', 'k', '-9999999999999999'],
      ['EXPIRE', 'k', '-9223372036854775808'],
      ['EXPIRE', 'k', 'abc'],
      ['EXPIRE', 'k', '1e3'],
      ['PEXPIRE', 'k', '9223372036854775807'],
      ['EXPIREAT', 'k', '9223372036854776'],
      ['PEXPIREAT', 'k', '9223372036854775808'],
      ['TTL', 'k'],
      ['PEXPIREAT', 'k', '9223372036854770000'],
      ['PEXPIRETIME', 'k'],
      ['EXPIRETIME', 'k'],
      ['EXPIREAT', 'k', '9223372036854775'],
      ['PEXPIRETIME', 'k'],
      // dualkv keeps times as doubles: past 2^53 ms it answers to double precision.
      ['PEXPIREAT', 'k', '9223372036854775807'],
      near(2048, 'PEXPIRETIME', 'k'),
      ['SET', 'k', 'v', 'PXAT', '9223372036854775807'],
      near(2048, 'PEXPIRETIME', 'k'),
      ['EXPIRE', 'k', '-9223372036854775'],
      ['EXISTS', 'k'],
      ['SET', 'k', 'v'],
      ['PEXPIRE', 'k', '-9223372036854775808'],
      ['EXISTS', 'k'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('DEL, EXISTS, and wrong numbers of arguments', async () => {
    const script = steps(
      ['SET', 'a', '1'],
      ['SET', 'b', '2'],
      ['EXISTS', 'a', 'a', 'b', 'nokey'],
      ['DEL', 'a', 'nokey', 'a'],
      ['DEL', 'a'],
      ['DEL', 'b'],
      ['EXISTS', 'a', 'b'],
      ['GET'],
      ['GET', 'a', 'b'],
      ['SET', 'k'],
      ['SETEX', 'k', '10'],
      ['PSETEX', 'k'],
      ['GETEX'],
      ['GETDEL'],
      ['GETDEL', 'a', 'b'],
      ['DEL'],
      ['EXISTS'],
      ['EXPIRE', 'k'],
      ['PEXPIRE', 'k'],
      ['EXPIREAT'],
      ['PEXPIREAT', 'k'],
      ['TTL'],
      ['TTL', 'a', 'b'],
      ['PTTL'],
      ['EXPIRETIME'],
      ['PEXPIRETIME', 'a', 'b'],
      ['PERSIST'],
      ['PERSIST', 'a', 'b'],
      ['FLY', 'away', 'now'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('MGET, MSET, MSETNX, RENAME, RENAMENX, COPY, UNLINK, FLUSHDB, KEYS, and their errors', async () => {
    const script = steps(
      ['MSET', 'a', '1', 'b', '2', 'c', '3'],
      ['MGET', 'a', 'b', 'nope', 'c', 'a'],
      ['MSET', 'a'],
      ['MSET', 'a', '1', 'b'],
      ['MSETNX', 'a', 'x', 'z', 'y'],
      ['MSETNX', 'y', '1', 'z', '2'],
      ['MGET', 'y', 'z'],
      ['SET', 't', 'v', 'EX', '100'],
      ['RENAME', 't', 't2'],
      near(1, 'TTL', 't2'),
      ['EXISTS', 't'],
      ['RENAME', 'nope', 'x'],
      ['RENAME', 'a', 'a'],
      ['RENAME', 'nope', 'nope'],
      ['RENAMENX', 'a', 'b'],
      ['RENAMENX', 'a', 'fresh'],
      ['RENAMENX', 'fresh', 'fresh'],
      ['RENAMENX', 'nope', 'x'],
      ['COPY', 'b', 'c'],
      ['COPY', 'b', 'c', 'REPLACE'],
      ['GET', 'c'],
      ['COPY', 't2', 't3'],
      near(1, 'TTL', 't3'),
      ['COPY', 'b', 'b'],
      ['COPY', 'nope', 'x'],
      ['COPY', 'b', 'd', 'DB', '0'],
      ['COPY', 'b', 'd', 'REPLACE', 'BOGUS'],
      ['COPY', 'b', 'e', 'DB', 'x'],
      ['UNLINK', 'b', 'c', 'nope'],
      ['KEYS', 'fr*'],
      ['KEYS', 't2*'],
      ['KEYS', '[a-c]'],
      ['FLUSHDB', 'NOW'],
      ['FLUSHDB', 'ASYNC', 'SYNC'],
      ['FLUSHALL', 'SYNC'],
      ['KEYS', '*'],
      ['DBSIZE'],
      ['RANDOMKEY'],
      ['SCAN', 'abc'],
      ['SCAN', '0', 'COUNT', '0'],
      ['SCAN', '0', 'COUNT', 'x'],
      ['SCAN', '0', 'MATCH'],
      ['SCAN', '0', 'FOO', 'bar'],
      ['SCAN', '0'],
    );
    expect(await differences(script)).toEqual([]);
  });

  it('MULTI, EXEC, DISCARD, WATCH and UNWATCH, their queueing errors and their misuse', async () => {
    const script = steps(
      ['MULTI'],
      ['SET', 'a', '1'],
      ['GET', 'a'],
      ['MSET', 'b', '2', 'c', '3'],
      ['RENAME', 'nope', 'x'],
      ['MGET', 'a', 'b', 'c'],
      ['EXEC'],
      ['EXEC'],
      ['DISCARD'],
      ['MULTI'],
      ['MULTI'],
      ['WATCH', 'a'],
      ['SET', 'a', '2'],
      ['EXEC'],
      ['MULTI'],
      ['SET', 'a'],
      ['FLY'],
      ['SET', 'a', '3'],
      ['EXEC'],
      ['GET', 'a'],
      ['MULTI'],
      ['SET', 'a', '4'],
      ['DISCARD'],
      ['GET', 'a'],
      ['WATCH', 'a', 'nope'],
      ['SET', 'a', '5'],
      ['MULTI'],
      ['SET', 'a', '6'],
      ['EXEC'],
      ['GET', 'a'],
      ['WATCH', 'a'],
      ['UNWATCH'],
      ['SET', 'a', '7'],
      ['MULTI'],
      ['GET', 'a'],
      ['EXEC'],
      ['WATCH'],
      ['MULTI', 'x'],
      ['EXEC', 'x'],
    );
    expect(await differences(script)).toEqual([]);
  });
});
