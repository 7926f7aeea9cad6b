import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Mutation } from '../../src/backend/types.js';
import { MAX_OPEN_SCANS } from '../../src/backend/memory/scan-cursors.js';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { serverFixture } from '../helpers/server.js';
import { clockedServer, err, NOT_INTEGER, OK, SYNTAX } from './clocked-server.js';

/**
 * The multi-key and whole-keyspace commands of issue 12, with redis-server 7.0's replies:
 * MGET, MSET, MSETNX, RENAME, RENAMENX, COPY, UNLINK, RANDOMKEY, FLUSHDB, FLUSHALL,
 * SCAN, KEYS, TIME.
 */

describe('MGET, MSET, MSETNX', () => {
  const t = clockedServer();
  const { call, calls } = t;

  it('MSET sets every pair and clears their TTLs; MGET answers nil for a missing or expired key', async () => {
    expect(await calls(['SET', 'b', 'old', 'EX', '100'], ['SET', 'gone', 'v', 'PX', '10'], ['MSET', 'a', '1', 'b', '2'])).toEqual([OK, OK, OK]);
    t.clock.advance(11);
    expect(await calls(['MGET', 'a', 'b', 'missing', 'gone', 'a'], ['TTL', 'b'])).toEqual([['1', '2', null, null, '1'], -1]);
  });

  it('MSET with an odd number of arguments, and MSETNX, refuse as Redis does', async () => {
    expect(await calls(['MSET', 'a', '1', 'b'], ['MSETNX', 'a'], ['MGET'])).toEqual([
      err("wrong number of arguments for 'mset' command"),
      err("wrong number of arguments for 'msetnx' command"),
      err("wrong number of arguments for 'mget' command"),
    ]);
  });

  it('MSETNX sets all or nothing: nothing when any key exists', async () => {
    expect(await calls(['MSETNX', 'a', '1', 'b', '2'], ['MSETNX', 'b', 'x', 'c', '3'], ['MGET', 'a', 'b', 'c'])).toEqual([1, 0, ['1', '2', null]]);
  });

  it('the key size limit applies to MSET\'s keys, not its values', async () => {
    const max = t.srv.server.ctx.limits.maxKeySize;
    expect(await call('MSET', 'k', 'v'.repeat(max + 10))).toEqual(OK);
    expect(await call('MSET', 'k', 'v', 'K'.repeat(max + 1), 'v')).toEqual({ error: expect.stringMatching(/^ERR key of \d+ bytes is over the limit/) as unknown as string });
  });

  it('MSET reaches the log as one BATCH', async () => {
    const recorded: Array<Mutation | Mutation[]> = [];
    t.srv.server.backend.setSink({ writeBlocker: () => null, record: (m) => void recorded.push(m), recordAll: (ms) => void recorded.push([...ms]) });
    await call('MSET', 'a', '1', 'b', '2', 'c', '3');
    expect(recorded).toHaveLength(1);
    expect((recorded[0] as Mutation[]).map((m) => ('key' in m ? m.key : ''))).toEqual(['a', 'b', 'c']);
  });
});

describe('RENAME, RENAMENX, COPY, UNLINK', () => {
  const t = clockedServer();
  const { call, calls } = t;
  const version = async (key: string) => ((await call('GETVER', key)) as [string, number])[1];

  it('RENAME moves the value and its TTL, with a new version, and replaces the target', async () => {
    await calls(['SET', 'src', 'v', 'PX', '5000'], ['SET', 'dst', 'other']);
    const before = await version('src');
    expect(await calls(['RENAME', 'src', 'dst'], ['EXISTS', 'src'], ['GET', 'dst'], ['PTTL', 'dst'])).toEqual([OK, 0, 'v', 5000]);
    expect(await version('dst')).toBeGreaterThan(before);
  });

  it('RENAME of a missing or expired key is "no such key"; onto itself it is OK and changes nothing', async () => {
    await call('SET', 'e', 'v', 'PX', '10');
    t.clock.advance(11);
    await call('SET', 'same', 'v');
    const v = await version('same');
    expect(await calls(['RENAME', 'nope', 'x'], ['RENAME', 'e', 'x'], ['RENAMENX', 'nope', 'x'], ['RENAME', 'same', 'same'], ['RENAMENX', 'same', 'same'])).toEqual([
      err('no such key'),
      err('no such key'),
      err('no such key'),
      OK,
      0,
    ]);
    expect(await version('same')).toBe(v);
  });

  it('RENAMENX moves only onto a key that does not exist', async () => {
    await calls(['SET', 'a', '1'], ['SET', 'b', '2']);
    expect(await calls(['RENAMENX', 'a', 'b'], ['RENAMENX', 'a', 'c'], ['MGET', 'a', 'b', 'c'])).toEqual([0, 1, [null, '2', '1']]);
  });

  it('COPY copies value and TTL, replaces only with REPLACE, takes DB 0 only, and refuses a copy onto itself', async () => {
    await calls(['SET', 'a', '1', 'PX', '3000'], ['SET', 'b', '2']);
    expect(
      await calls(
        ['COPY', 'a', 'b'],
        ['COPY', 'a', 'b', 'REPLACE'],
        ['GET', 'b'],
        ['PTTL', 'b'],
        ['COPY', 'a', 'c', 'DB', '0'],
        ['COPY', 'a', 'd', 'DB', '1'],
        ['COPY', 'a', 'a'],
        ['COPY', 'missing', 'x'],
        ['COPY', 'a', 'x', 'BOGUS'],
        ['COPY', 'a', 'x', 'DB', 'one'],
        ['GET', 'a'],
      ),
    ).toEqual([0, 1, '1', 3000, 1, err('DB index is out of range (dualkv has one database, 0)'), err('source and destination objects are the same'), 0, SYNTAX, NOT_INTEGER, '1']);
  });

  it('UNLINK deletes as DEL does', async () => {
    await calls(['SET', 'a', '1'], ['SET', 'b', '2']);
    expect(await calls(['UNLINK', 'a', 'b', 'c'], ['EXISTS', 'a', 'b'])).toEqual([2, 0]);
  });

  it('RENAME reaches the log as one BATCH: the new key, then the delete of the old', async () => {
    await call('SET', 'src', 'v');
    const recorded: Array<Mutation | Mutation[]> = [];
    t.srv.server.backend.setSink({ writeBlocker: () => null, record: (m) => void recorded.push(m), recordAll: (ms) => void recorded.push([...ms]) });
    await call('RENAME', 'src', 'dst');
    expect((recorded[0] as Mutation[]).map((m) => [m.kind, 'key' in m ? m.key : ''])).toEqual([
      ['put', 'dst'],
      ['del', 'src'],
    ]);
  });
});

describe('RANDOMKEY, FLUSHDB, FLUSHALL, TIME', () => {
  const t = clockedServer();
  const { call, calls } = t;

  it('RANDOMKEY answers nil when empty, never an expired key, and over many calls many of the keys', async () => {
    expect(await call('RANDOMKEY')).toBeNull();
    await call('SET', 'dead', 'v', 'PX', '10');
    t.clock.advance(11);
    expect(await call('RANDOMKEY')).toBeNull();
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
    await call('MSET', ...keys.flatMap((k) => [k, 'v']));
    const seen = new Set<RespValue>();
    for (let i = 0; i < 300; i++) seen.add(await call('RANDOMKEY'));
    for (const k of seen) expect(keys).toContain(k);
    expect(seen.size).toBeGreaterThan(150);
  });

  it('FLUSHDB and FLUSHALL delete every key, take ASYNC or SYNC, and refuse anything else', async () => {
    await call('MSET', 'a', '1', 'b', '2');
    expect(await calls(['FLUSHDB'], ['DBSIZE'], ['SET', 'a', '1'], ['FLUSHALL', 'ASYNC'], ['DBSIZE'], ['FLUSHDB', 'sync'], ['FLUSHALL', 'NOW'], ['FLUSHDB', 'ASYNC', 'SYNC'])).toEqual([
      OK,
      0,
      OK,
      OK,
      0,
      OK,
      SYNTAX,
      SYNTAX,
    ]);
  });

  it('TIME answers the wall clock as [seconds, microseconds]', async () => {
    const before = Date.now();
    const [sec, usec] = (await call('TIME')) as [string, string];
    expect(sec).toMatch(/^\d+$/);
    expect(usec).toMatch(/^\d{1,6}$/);
    const ms = Number(sec) * 1000 + Number(usec) / 1000;
    expect(ms).toBeGreaterThanOrEqual(before - 1);
    expect(ms).toBeLessThanOrEqual(Date.now() + 1);
  });
});

describe('KEYS and SCAN', () => {
  const t = clockedServer();
  const { call, calls } = t;

  /** Every key a whole SCAN returns, with the options given. */
  const scanAll = async (...options: string[]): Promise<{ keys: string[]; pages: number }> => {
    let cursor = '0';
    const keys: string[] = [];
    let pages = 0;
    do {
      const [next, page] = (await call('SCAN', cursor, ...options)) as [string, string[]];
      keys.push(...page);
      cursor = next;
      pages++;
    } while (cursor !== '0' && pages < 10_000);
    return { keys, pages };
  };

  it("KEYS answers the keys Redis's glob matches, never an expired one", async () => {
    await call('MSET', 'user:1', 'a', 'user:2', 'b', 'user:10', 'c', 'other', 'd', 'u[x]', 'e');
    await call('SET', 'user:dead', 'v', 'PX', '10');
    t.clock.advance(11);
    const sorted = async (p: string) => ((await call('KEYS', p)) as string[]).sort();
    expect(await sorted('*')).toEqual(['other', 'u[x]', 'user:1', 'user:10', 'user:2']);
    expect(await sorted('user:?')).toEqual(['user:1', 'user:2']);
    expect(await sorted('user:[1-2]*')).toEqual(['user:1', 'user:10', 'user:2']);
    expect(await sorted('u\\[x\\]')).toEqual(['u[x]']);
    expect(await sorted('nothing*')).toEqual([]);
  });

  it('SCAN returns every key once over the iteration, with COUNT, MATCH and TYPE as Redis does', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `key:${i}`);
    await call('MSET', ...keys.flatMap((k) => [k, 'v']));
    const plain = await scanAll();
    expect(plain.keys.sort()).toEqual([...keys].sort());
    const small = await scanAll('COUNT', '5');
    expect(small.keys.sort()).toEqual([...keys].sort());
    expect(small.pages).toBeGreaterThanOrEqual(200);
    expect((await scanAll('MATCH', 'key:1??')).keys).toHaveLength(100);
    expect((await scanAll('TYPE', 'list')).keys).toHaveLength(0);
    expect((await scanAll('TYPE', 'string', 'MATCH', 'key:*', 'COUNT', '10')).keys).toHaveLength(1000);
  });

  it('SCAN refuses a bad cursor, COUNT and options with Redis\'s errors, and a cursor that names no iteration clearly', async () => {
    expect(await calls(['SCAN', 'abc'], ['SCAN', '-1'], ['SCAN', '18446744073709551616'], ['SCAN', '0', 'COUNT', '0'], ['SCAN', '0', 'COUNT', 'x'], ['SCAN', '0', 'MATCH'], ['SCAN', '0', 'BOGUS', '1'])).toEqual([
      err('invalid cursor'),
      err('invalid cursor'),
      err('invalid cursor'),
      SYNTAX,
      NOT_INTEGER,
      SYNTAX,
      SYNTAX,
    ]);
    expect(await call('SCAN', '12345')).toEqual({ error: expect.stringMatching(/^ERR invalid cursor: no SCAN is open under it/) as unknown as string });
  });

  it('the same cursor asked again (a lost reply) gets the same page again', async () => {
    await call('MSET', ...Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']).flat());
    const [c1] = (await call('SCAN', '0', 'COUNT', '10')) as [string, string[]];
    const second = await call('SCAN', c1, 'COUNT', '10');
    expect(await call('SCAN', c1, 'COUNT', '10')).toEqual(second);
    const [c2] = second as [string, string[]];
    expect(c2).not.toBe('0');
    // The iteration goes on from there.
    const [, third] = (await call('SCAN', c2, 'COUNT', '10')) as [string, string[]];
    expect(third).toHaveLength(10);
  });

  it('keeps at most MAX_OPEN_SCANS iterations open: the oldest abandoned one is forgotten', () => {
    const b = new MemoryBackend();
    for (let i = 0; i < 100; i++) b.put(`k${i}`, 'v');
    const first = b.scan('0', { count: 1, match: null });
    for (let i = 0; i < MAX_OPEN_SCANS * 2; i++) b.scan('0', { count: 1, match: null });
    expect(b.scan(first?.cursor as string, { count: 1, match: null })).toBeNull();
  });

  it('returns every key present for the whole iteration, while other keys are written and deleted between pages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.tuple(fc.constantFrom('set', 'del', 'add'), fc.integer({ min: 0, max: 2000 })), { maxLength: 400 }),
        fc.integer({ min: 1, max: 40 }),
        (stable, churn, count) => {
          const b = new MemoryBackend();
          const kept = Array.from({ length: stable }, (_, i) => `stable:${i}`);
          for (const k of kept) b.put(k, 'v');
          for (let i = 0; i < 500; i++) b.put(`churn:${i}`, 'v');
          const seen = new Set<string>();
          let cursor = '0';
          let step = 0;
          do {
            const page = b.scan(cursor, { count, match: null });
            if (page === null) throw new Error('the iteration was forgotten');
            for (const k of page.keys) seen.add(k);
            cursor = page.cursor;
            // Between pages: other clients write new keys, overwrite and delete others (never a stable one).
            for (let j = 0; j < 3 && step < churn.length; j++, step++) {
              const [op, n] = churn[step] as [string, number];
              if (op === 'del') b.delete([`churn:${n}`]);
              else b.put(op === 'set' ? `churn:${n}` : `new:${n}`, 'w');
              if (n % 7 === 0 && kept.length > 0) b.put(kept[n % kept.length] as string, 'overwritten');
            }
          } while (cursor !== '0');
          for (const k of kept) if (!seen.has(k)) return false;
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('KEYS with --keys-limit', () => {
  const fx = serverFixture();

  it('refuses once the keyspace holds more keys than the limit, pointing to SCAN; 0 is no limit', async () => {
    const srv = await fx.start({ limits: { keysLimit: 3 } });
    const c = await fx.connect(srv);
    const call = async (...words: string[]) => (await request(c, ...words)).value;
    await call('MSET', 'a', '1', 'b', '2', 'c', '3');
    expect(((await call('KEYS', '*')) as string[]).length).toBe(3);
    await call('SET', 'd', '4');
    expect(await call('KEYS', 'a*')).toEqual(
      err('KEYS would walk 4 keys, more than --keys-limit (3) allows: every client waits while it runs. Use SCAN, or raise --keys-limit (0: no limit)'),
    );
    const unlimited = await fx.start({ limits: { keysLimit: 0 } });
    const u = await fx.connect(unlimited);
    await request(u, 'MSET', 'a', '1', 'b', '2', 'c', '3', 'd', '4');
    expect(((await request(u, 'KEYS', '*')).value as string[]).length).toBe(4);
  });
});
