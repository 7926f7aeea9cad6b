import { describe, expect, it } from 'vitest';
import { ACCESS_TICK_MS } from '../../src/backend/memory/access-clock.js';
import { stringCommands } from '../../src/commands/strings.js';
import { lookupCommand } from '../../src/commands/table.js';
import { DEFAULT_MEMORY } from '../../src/config.js';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { ManualClock, serverFixture } from '../helpers/server.js';
import { clockedServer } from './clocked-server.js';

/**
 * The string commands in the server around them (issue 12): --max-value-size on
 * the values they make, versions, the LRU access clock, the command table's flags
 * and key positions, and the text dialect (docs/PROTOCOL.md §1.2).
 */

/** GETVER's version, or 0 when absent. */
async function versionOf(call: (...w: string[]) => Promise<RespValue>, key: string): Promise<number> {
  const r = await call('GETVER', key);
  return r === null ? 0 : ((r as RespValue[])[1] as number);
}

describe('a result over --max-value-size', () => {
  const fx = serverFixture();
  const TOO_LARGE = /^ERR string exceeds maximum allowed size \(proto-max-bulk-len\): the result would be \d+ bytes, over the limit of 16 bytes \(raise --max-value-size\)$/;

  it('is refused with the limit and how to raise it, after Redis\'s words, and the key is left as it was', async () => {
    const c = await fx.connect({ limits: { maxValueSize: 16 } });
    const call = async (...w: string[]) => (await request(c, ...w)).value;
    const refused = async (...w: string[]) => ((await call(...w)) as { error: string }).error;
    await call('SET', 'k', '0123456789');
    const before = await versionOf(call, 'k');
    expect(await refused('APPEND', 'k', 'abcdefg')).toMatch(TOO_LARGE);
    expect(await refused('SETRANGE', 'k', '15', 'ab')).toMatch(TOO_LARGE);
    expect(await refused('SETRANGE', 'k', '9223372036854775807', 'a')).toMatch(/the result would be 9223372036854775808 bytes/);
    expect(await call('GET', 'k')).toBe('0123456789');
    expect(await versionOf(call, 'k')).toBe(before);
    // Exactly the limit is fine.
    expect(await call('APPEND', 'k', 'abcdef')).toBe(16);
    expect(await call('SETRANGE', 'k', '14', 'XY')).toBe(16);
    expect(await refused('SETRANGE', 'nokey', '100', 'x')).toMatch(TOO_LARGE);
    expect(await refused('APPEND', 'nokey', 'x'.repeat(17))).toMatch(TOO_LARGE);
    expect(await call('EXISTS', 'nokey')).toBe(0);
    // A counter or a float too long to store.
    expect(await refused('INCRBY', 'n', '99999999999999999')).toMatch(TOO_LARGE);
    expect(await refused('INCRBYFLOAT', 'n', '1e20')).toMatch(TOO_LARGE);
    expect(await call('EXISTS', 'n')).toBe(0);
    // SETNX and GETSET take their value as SET does.
    for (const command of ['SETNX', 'GETSET']) expect(await refused(command, 'k', 'x'.repeat(17))).toMatch(/^ERR value of 17 bytes is over the limit of 16 bytes \(raise --max-value-size\)$/);
    expect(await call('GET', 'k')).toBe('0123456789abcdXY');
  });

  it("also bounds LCS's table (4 bytes a cell), as Redis bounds it by proto-max-bulk-len", async () => {
    const c = await fx.connect({ limits: { maxValueSize: 16 } });
    const call = async (...w: string[]) => (await request(c, ...w)).value;
    await call('SET', 'a', 'a');
    await call('SET', 'ab', 'ab');
    expect(await call('LCS', 'a', 'a')).toBe('a'); // a 2 × 2 table: 16 bytes
    expect(((await call('LCS', 'ab', 'a')) as { error: string }).error).toBe(
      'ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len: strings of 2 and 1 bytes need a table of 24 bytes, over the limit of 16 bytes (raise --max-value-size)',
    );
  });
});

describe('versions', () => {
  const t = clockedServer();
  const { call } = t;

  it('every write of the string commands gives the key a new version; a refused or empty one, and a read, does not', async () => {
    await call('SET', 'k', '1');
    const writes = [
      ['INCR', 'k'],
      ['DECR', 'k'],
      ['INCRBY', 'k', '0'], // the same value again is still a write
      ['DECRBY', 'k', '5'],
      ['INCRBYFLOAT', 'k', '0'],
      ['APPEND', 'k', ''],
      ['APPEND', 'k', 'x'],
      ['SETRANGE', 'k', '0', '-'],
      ['GETSET', 'k', '7'],
    ];
    let last = await versionOf(call, 'k');
    for (const w of writes) {
      await call(...w);
      const now = await versionOf(call, 'k');
      expect(now, w.join(' ')).toBeGreaterThan(last);
      last = now;
    }
    const unchanged = [
      ['SETNX', 'k', 'v'],
      ['SETRANGE', 'k', '3', ''],
      ['INCRBYFLOAT', 'k', 'abc'],
      ['INCRBY', 'k', '9223372036854775807'],
      ['STRLEN', 'k'],
      ['GETRANGE', 'k', '0', '-1'],
      ['SUBSTR', 'k', '0', '-1'],
      ['TYPE', 'k'],
      ['TOUCH', 'k'],
      ['LCS', 'k', 'k'],
    ];
    for (const w of unchanged) {
      await call(...w);
      expect(await versionOf(call, 'k'), w.join(' ')).toBe(last);
    }
    expect(await call('SETNX', 'fresh', 'v')).toBe(1);
    expect(await versionOf(call, 'fresh')).toBeGreaterThan(last);
  });
});

describe('TOUCH and the LRU access clock', () => {
  const fx = serverFixture();

  it('TOUCH counts as a use of each key it finds; TYPE, as in Redis, does not', async () => {
    const clock = new ManualClock();
    const srv = await fx.start({ logOps: false, memory: { ...DEFAULT_MEMORY, maxmemory: 1 << 30, policy: 'allkeys-lru' } }, { clock: clock.now });
    const c = await fx.connect();
    const access = srv.server.backend.access;
    if (access === null) throw new Error('allkeys-lru keeps an access clock');
    await request(c, 'SET', 'touched', 'v');
    await request(c, 'SET', 'typed', 'v');
    clock.advance(10_000);
    expect((await request(c, 'TOUCH', 'touched', 'nokey')).value).toBe(1);
    expect((await request(c, 'TYPE', 'typed')).value).toEqual({ status: 'string' });
    expect(access.idleMs('touched')).toBeLessThan(ACCESS_TICK_MS);
    expect(access.idleMs('typed')).toBeGreaterThanOrEqual(10_000);
  });
});

describe('the command table', () => {
  // Redis 7.0's src/commands/*.json: arity, write or readonly, denyoom, first and last key.
  const REDIS: Record<string, [number, 'write' | 'readonly', boolean, number, number]> = {
    incr: [2, 'write', true, 1, 1],
    decr: [2, 'write', true, 1, 1],
    incrby: [3, 'write', true, 1, 1],
    decrby: [3, 'write', true, 1, 1],
    incrbyfloat: [3, 'write', true, 1, 1],
    append: [3, 'write', true, 1, 1],
    strlen: [2, 'readonly', false, 1, 1],
    getrange: [4, 'readonly', false, 1, 1],
    substr: [4, 'readonly', false, 1, 1],
    setrange: [4, 'write', true, 1, 1],
    setnx: [3, 'write', true, 1, 1],
    getset: [3, 'write', true, 1, 1],
    type: [2, 'readonly', false, 1, 1],
    touch: [-2, 'readonly', false, 1, -1],
    lcs: [-3, 'readonly', false, 1, 2],
  };

  it("has each string command with Redis 7.0's arity, flags and key positions, in the keyspace group", () => {
    expect(stringCommands.map((s) => s.name).sort()).toEqual(Object.keys(REDIS).sort());
    for (const [name, [arity, kind, denyOom, firstKey, lastKey]] of Object.entries(REDIS)) {
      const spec = lookupCommand(name.toUpperCase());
      expect(spec, name).toBeDefined();
      expect({ arity: spec?.arity, write: spec?.write, denyOom: spec?.denyOom ?? false, firstKey: spec?.firstKey, lastKey: spec?.lastKey, group: spec?.group }, name).toEqual({
        arity,
        write: kind === 'write',
        denyOom,
        firstKey,
        lastKey,
        group: 'keyspace',
      });
    }
  });
});

describe('the text dialect', () => {
  const t = clockedServer();

  it('runs each string command, the value of APPEND, SETNX, GETSET and SETRANGE being the rest of the line', async () => {
    const exchange: Array<[string, string]> = [
      ['INCR n', 'INT 1'],
      ['INCRBY n 5', 'INT 6'],
      ['DECRBY n 2', 'INT 4'],
      ['DECR n', 'INT 3'],
      ['INCRBYFLOAT n 0.5', 'VALUE 3.5'],
      ['INCR n', 'ERR NOT_INTEGER value is not an integer or out of range'],
      ['INCRBYFLOAT n abc', 'ERR NOT_FLOAT value is not a valid float'],
      ['INCRBY big 9223372036854775807', 'INT 9223372036854775807'],
      ['INCR big', 'ERR OVERFLOW increment or decrement would overflow'],
      ['APPEND s hello world', 'INT 11'],
      ['APPEND s  !', 'INT 13'],
      ['GET s', 'VALUE hello world !'],
      ['SETRANGE s 0 J', 'INT 13'],
      ['SETRANGE s 6 W r', 'INT 13'],
      ['GETRANGE s 0 4', 'VALUE Jello'],
      ['SUBSTR s -7 -3', 'VALUE W rld'],
      ['STRLEN s', 'INT 13'],
      ['SETRANGE s -1 x', 'ERR NOT_INTEGER offset is out of range'],
      ['SETNX s x y', 'INT 0'],
      ['SETNX t x y', 'INT 1'],
      ['GET t', 'VALUE x y'],
      ['GETSET t "a\\nb" ', 'VALUE x y'],
      ['GET t', 'VALUE "a\\nb"'],
      ['GETSET t', "ERR WRONG_ARITY wrong number of arguments for 'getset' command; usage: GETSET key value"],
      ['TYPE t', 'string'],
      ['TYPE nokey', 'none'],
      ['TOUCH t s nokey', 'INT 2'],
      ['GETRANGE nokey 0 -1', 'VALUE ""'],
      ['PUT l1 ohmytext', 'OK'],
      ['PUT l2 mynewtext', 'OK'],
      ['LCS l1 l2', 'VALUE mytext'],
      ['LCS l1 l2 LEN', 'INT 6'],
      ['LCS l1 l2 LEN IDX', 'ERR SYNTAX If you want both the length and indexes, please just use IDX.'],
    ];
    expect(await t.text(...exchange.map(([line]) => line))).toEqual(exchange.map(([, reply]) => reply));
  });

  it('lists the string commands in HELP', async () => {
    const [help] = await t.text('HELP');
    for (const usage of ['INCRBY key increment', 'APPEND key value', 'SETRANGE key offset value', 'LCS key1 key2']) expect(help).toContain(usage);
  });
});
