import { describe, expect, it } from 'vitest';
import type { RespValue } from '../frontends/resp-reader.js';
import { clockedServer, err, OK, SYNTAX } from './clocked-server.js';

/**
 * Versions and compare-and-set (issue 11 §4, docs/PROTOCOL.md §1.3 and §2.2): every
 * write of a key gives it a new version, from one server-wide counter, so versions
 * never repeat for a key; CAS and CAD act only at the version given. Plus Valkey's
 * value-compare forms, SET … IFEQ and DELIFEQ.
 */

const CONFLICT: RespValue = { status: 'CONFLICT' };

describe('versions and compare-and-set over RESP', () => {
  const t = clockedServer();
  const { call, calls } = t;

  /** The key's version (GETVER answers [value, version]), or 0 when absent. */
  const version = async (key: string): Promise<number> => {
    const r = await call('GETVER', key);
    return r === null ? 0 : ((r as RespValue[])[1] as number);
  };

  it('GETVER answers the value and its version, or nil; reads leave the version', async () => {
    expect(await call('GETVER', 'k')).toBe(null);
    await call('SET', 'k', 'v');
    const [value, v] = (await call('GETVER', 'k')) as [string, number];
    expect(value).toBe('v');
    expect(v).toBeGreaterThan(0);
    await calls(['GET', 'k'], ['EXISTS', 'k'], ['TTL', 'k'], ['GETEX', 'k'], ['GETVER', 'k']);
    expect(await version('k')).toBe(v);
  });

  it('every write changes the version, an expiry change included', async () => {
    const writes = [
      ['SET', 'k', 'v1'],
      ['SET', 'k', 'v1'], // the same value again is still a write
      ['PUT', 'k', 'v2'],
      ['SETEX', 'k', '100', 'v3'],
      ['SET', 'k', 'v4', 'KEEPTTL'],
      ['PSETEX', 'k', '100000', 'v5'],
      ['EXPIRE', 'k', '200'],
      ['PERSIST', 'k'],
      ['GETEX', 'k', 'EX', '50'],
      ['GETEX', 'k', 'PERSIST'],
      ['SET', 'k', 'v6', 'XX', 'GET'],
      ['SET', 'k', 'v7', 'IFEQ', 'v6'],
    ];
    let last = 0;
    for (const words of writes) {
      await call(...words);
      const v = await version('k');
      expect(v, words.join(' ')).toBeGreaterThan(last);
      last = v;
    }
    const [, casVersion] = (await call('CAS', 'k', String(last), 'v8')) as [RespValue, number];
    expect(casVersion).toBeGreaterThan(last);
    expect(await version('k')).toBe(casVersion);
  });

  it('a write that changes nothing leaves the version', async () => {
    await call('SET', 'k', 'v', 'EX', '100');
    await call('SET', 'plain', 'v');
    const before = [await version('k'), await version('plain')];
    const refused = [
      ['SET', 'k', 'w', 'NX'],
      ['SET', 'k', 'w', 'IFEQ', 'other'],
      ['SET', 'k', 'w', 'EX', '0'],
      ['SET', 'k', 'w', 'EX', '10', 'PX', '10'],
      ['EXPIRE', 'k', '50', 'NX'],
      ['EXPIRE', 'k', '50', 'GT'],
      ['PERSIST', 'plain'],
      ['GETEX', 'plain', 'PERSIST'],
      ['EXPIRE', 'plain', '50', 'XX'],
      ['CAS', 'k', String((before[0] as number) + 1000), 'w'],
      ['CAD', 'k', String((before[0] as number) + 1000)],
      ['DELIFEQ', 'k', 'other'],
    ];
    for (const words of refused) await call(...words);
    expect([await version('k'), await version('plain')]).toEqual(before);
    expect(await calls(['GET', 'k'], ['TTL', 'k'], ['GET', 'plain'], ['TTL', 'plain'])).toEqual(['v', 100, 'v', -1]);
  });

  it('CAS stores only at the current version and answers the new one; a conflict answers the current one and changes nothing', async () => {
    await call('SET', 'k', 'v1', 'EX', '100');
    const v1 = await version('k');
    expect(await call('CAS', 'k', String(v1 + 1000), 'lost')).toEqual([CONFLICT, v1]);
    expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v1', 100]);
    expect(await version('k')).toBe(v1);
    const reply = (await call('CAS', 'k', String(v1), 'v2')) as [RespValue, number];
    expect(reply[0]).toEqual(OK);
    expect(reply[1]).toBeGreaterThan(v1);
    expect(await call('GETVER', 'k')).toEqual(['v2', reply[1]]);
    expect(await call('TTL', 'k')).toBe(-1); // as SET: a new value clears the expiry unless KEEPTTL
    // The old version no longer matches: exactly one of two writers that read v1 wins.
    expect(await call('CAS', 'k', String(v1), 'v3')).toEqual([CONFLICT, reply[1]]);
    expect(await call('GET', 'k')).toBe('v2');
  });

  it('CAS 0 stores only while the key is absent, and an expired key is absent', async () => {
    const created = (await call('CAS', 'k', '0', 'first')) as [RespValue, number];
    expect(created[0]).toEqual(OK);
    expect(await call('CAS', 'k', '0', 'second')).toEqual([CONFLICT, created[1]]);
    expect(await call('GET', 'k')).toBe('first');
    await call('SET', 'e', 'old', 'PX', '100');
    t.clock.advance(101);
    const reborn = (await call('CAS', 'e', '0', 'new')) as [RespValue, number];
    expect(reborn[0]).toEqual(OK);
    expect(await call('GET', 'e')).toBe('new');
  });

  it('CAS takes EX, PX, EXAT, PXAT and KEEPTTL, and none of SET’s conditions', async () => {
    await call('CAS', 'k', '0', 'v', 'EX', '100');
    expect(await call('TTL', 'k')).toBe(100);
    await call('CAS', 'k', String(await version('k')), 'w', 'KEEPTTL');
    expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['w', 100]);
    await call('CAS', 'k', String(await version('k')), 'x', 'PXAT', String(t.clock.ms + 5000));
    expect(await call('PTTL', 'k')).toBe(5000);
    const v = String(await version('k'));
    for (const options of [['NX'], ['XX'], ['GET'], ['IFEQ', 'x'], ['EX', '10', 'KEEPTTL']]) {
      expect(await call('CAS', 'k', v, 'y', ...options), options.join(' ')).toEqual(SYNTAX);
    }
    expect(await call('CAS', 'k', v, 'y', 'EX', '0')).toEqual(err("invalid expire time in 'cas' command"));
    expect(await call('GET', 'k')).toBe('x');
  });

  it('CAS and CAD refuse a version that is not an unsigned 64-bit integer', async () => {
    await call('SET', 'k', 'v');
    const BAD = err('version is not an unsigned 64-bit integer');
    for (const bad of ['abc', '-1', '1.5', '+1', '01', '', '18446744073709551616']) {
      expect(await calls(['CAS', 'k', bad, 'w'], ['CAD', 'k', bad]), JSON.stringify(bad)).toEqual([BAD, BAD]);
    }
    // The largest u64 is a version, just not this key's.
    expect(await call('CAS', 'k', '18446744073709551615', 'w')).toEqual([CONFLICT, await version('k')]);
    expect(await call('GET', 'k')).toBe('v');
  });

  it('CAD deletes only at the current version', async () => {
    await call('SET', 'k', 'v');
    const v = await version('k');
    expect(await call('CAD', 'k', String(v + 1))).toEqual([CONFLICT, v]);
    expect(await call('CAD', 'k', '0')).toEqual([CONFLICT, v]);
    expect(await call('GET', 'k')).toBe('v');
    expect(await call('CAD', 'k', String(v))).toEqual([OK, 0]);
    expect(await calls(['GET', 'k'], ['GETVER', 'k'])).toEqual([null, null]);
  });

  it('versions strictly increase across keys, and a key deleted and written again never gets an old one', async () => {
    const seen = new Map<string, number[]>();
    let last = 0;
    const script = [
      ['SET', 'a', '1'],
      ['SET', 'b', '1'],
      ['SET', 'a', '2'],
      ['DEL', 'a'],
      ['SET', 'c', '1', 'EX', '100'],
      ['SET', 'a', '3'],
      ['GETDEL', 'b'],
      ['CAS', 'b', '0', '2'],
      ['EXPIRE', 'c', '50'],
      ['DELIFEQ', 'a', '3'],
      ['SETEX', 'a', '10', '4'],
      ['SET', 'b', '3'],
    ];
    for (const words of script) {
      await call(...words);
      const key = words[1] as string;
      const v = await version(key);
      if (v === 0) continue; // a delete
      expect(v, words.join(' ')).toBeGreaterThan(last);
      last = v;
      seen.set(key, [...(seen.get(key) ?? []), v]);
    }
    for (const [key, versions] of seen) expect(new Set(versions).size, key).toBe(versions.length);
    expect(seen.get('a')?.length).toBe(4);
  });

  describe("Valkey's value-compare forms", () => {
    it('SET IFEQ stores only while the value is the one given, and never creates the key', async () => {
      await call('SET', 'k', 'v1', 'EX', '100');
      expect(await call('SET', 'k', 'v2', 'IFEQ', 'nope')).toBe(null);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v1', 100]);
      expect(await call('SET', 'k', 'v2', 'IFEQ', 'v1')).toEqual(OK);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v2', -1]);
      expect(await call('SET', 'k', 'v3', 'IFEQ', 'v2', 'EX', '10')).toEqual(OK);
      expect(await calls(['GET', 'k'], ['TTL', 'k'])).toEqual(['v3', 10]);
      expect(await call('SET', 'k', 'v4', 'IFEQ', 'v3', 'KEEPTTL')).toEqual(OK);
      expect(await call('TTL', 'k')).toBe(10);
      expect(await calls(['SET', 'absent', 'v', 'IFEQ', 'v'], ['EXISTS', 'absent'])).toEqual([null, 0]);
    });

    it('SET IFEQ with GET answers the old value whether or not it stored, and nil for no key', async () => {
      await call('SET', 'k', 'v1');
      expect(await call('SET', 'k', 'v2', 'IFEQ', 'nope', 'GET')).toBe('v1');
      expect(await call('GET', 'k')).toBe('v1');
      expect(await call('SET', 'k', 'v2', 'IFEQ', 'v1', 'GET')).toBe('v1');
      expect(await call('GET', 'k')).toBe('v2');
      expect(await call('SET', 'absent', 'v', 'IFEQ', 'v', 'GET')).toBe(null);
    });

    it('DELIFEQ deletes only while the value matches', async () => {
      await call('SET', 'lock', 'token-1');
      expect(await calls(['DELIFEQ', 'lock', 'token-2'], ['GET', 'lock'])).toEqual([0, 'token-1']);
      expect(await calls(['DELIFEQ', 'lock', 'token-1'], ['EXISTS', 'lock'])).toEqual([1, 0]);
      expect(await call('DELIFEQ', 'lock', 'token-1')).toBe(0);
      expect(await call('DELIFEQ', 'lock')).toEqual(err("wrong number of arguments for 'delifeq' command"));
    });
  });
});

describe('versions and compare-and-set over the text dialect', () => {
  const t = clockedServer();

  it('GETVER answers VERSIONED, CAS and CAD answer OK or CONFLICT with a version', async () => {
    const [created] = await t.text('CAS k 0 hello world');
    const v = Number(/^OK (\d+)$/.exec(created as string)?.[1]);
    expect(v).toBeGreaterThan(0);
    expect(await t.text('GETVER k', 'CAS k 0 again', `CAS k ${v + 1} again`, 'GET k')).toEqual([
      `VERSIONED ${v} hello world`,
      `CONFLICT ${v}`,
      `CONFLICT ${v}`,
      'VALUE hello world',
    ]);
    const [updated] = await t.text(`CAS k ${v} "bye" EX 100`);
    const v2 = Number(/^OK (\d+)$/.exec(updated as string)?.[1]);
    expect(v2).toBeGreaterThan(v);
    expect(await t.text('TTL k', `CAD k ${v}`, `CAD k ${v2}`, 'GETVER k', 'CAS k abc x')).toEqual([
      'INT 100',
      `CONFLICT ${v2}`,
      'OK 0',
      'NOT_FOUND',
      'ERR NOT_INTEGER version is not an unsigned 64-bit integer',
    ]);
  });

  it('SET IFEQ and DELIFEQ work over the text dialect', async () => {
    expect(await t.text('PUT lock me', 'SET lock "you" IFEQ other', 'SET lock "you" IFEQ me', 'DELIFEQ lock me', 'DELIFEQ lock you', 'GET lock')).toEqual([
      'OK',
      'NOT_FOUND',
      'OK',
      'INT 0',
      'INT 1',
      'NOT_FOUND',
    ]);
  });
});
