import { expect, it } from 'vitest';
import { keySlot } from '../../../src/backend/redis-cluster/redis-cluster-engine.js';
import { forEachBackend } from './backends.js';

/**
 * Issue 15: what README "Guarantees by backend" refuses, tested where it refuses it, and
 * the same cases answered where it does not. (CHANGES and HTTP watch are tested only on
 * Redis Cluster here: etcd's watch is being built.)
 */

const MANY_KEYS = 129; // one past etcd's --max-txn-ops (128)

forEachBackend((b) => {
  const crossSlot = b.name === 'redis-cluster';

  it(crossSlot ? 'refuses multi-key commands over keys of different slots with CROSSSLOT, applying nothing' : 'runs multi-key commands over any keys', async () => {
    const { redis } = await b.serve();
    expect(keySlot('a')).not.toBe(keySlot('b'));
    const cases: Array<[string, () => Promise<unknown>, unknown]> = [
      ['MSET', () => redis.mset('a', '1', 'b', '2'), 'OK'],
      ['MGET', () => redis.mget('a', 'b'), ['1', '2']],
      ['EXISTS', () => redis.exists('a', 'b'), 2],
      ['MSETNX', () => redis.msetnx('a', 'x', 'b', 'y'), 0],
      ['COPY', () => redis.copy('a', 'b', 'REPLACE'), 1],
      ['RENAME', () => redis.rename('a', 'c'), 'OK'],
      ['DEL', () => redis.del('b', 'c'), 2],
      ['UNLINK', () => redis.unlink('b', 'c'), 0],
    ];
    for (const [name, run, answer] of cases) {
      if (crossSlot) await expect(run(), name).rejects.toThrow(/^CROSSSLOT Keys in request don't hash to the same slot$/);
      else expect(await run(), name).toEqual(answer);
    }
    if (crossSlot) expect((await redis.exists('a')) + (await redis.exists('b')) + (await redis.exists('c'))).toBe(0);
    else expect(await redis.exists('a', 'b', 'c')).toBe(0);
  });

  it(crossSlot ? 'refuses a transaction over keys of different slots, applying none of it' : 'runs a transaction over any keys', async () => {
    const { redis } = await b.serve();
    expect(await redis.call('MULTI')).toBe('OK');
    expect(await redis.call('SET', 'a', '1')).toBe('QUEUED');
    if (crossSlot) {
      // The command that brings in a second slot is refused as it is queued, and the EXEC then discards the whole.
      await expect(redis.call('SET', 'b', '2')).rejects.toThrow(/^CROSSSLOT Keys in request don't hash to the same slot$/);
      await expect(redis.call('EXEC')).rejects.toThrow(/^EXECABORT Transaction discarded because of previous errors\.$/);
      expect((await redis.exists('a')) + (await redis.exists('b'))).toBe(0);
    } else {
      expect(await redis.call('SET', 'b', '2')).toBe('QUEUED');
      expect(await redis.call('EXEC')).toEqual(['OK', 'OK']);
    }
  });

  it(b.remote ? 'refuses DBSIZE, SCAN, KEYS, RANDOMKEY and FLUSHDB inside MULTI, and runs the rest of the EXEC' : 'runs DBSIZE, SCAN, KEYS, RANDOMKEY and FLUSHDB inside MULTI', async () => {
    const { redis } = await b.serve();
    await redis.set('{t}k', 'v');
    const replies = (await redis.multi().set('{t}a', '1').dbsize().scan('0').keys('*').randomkey().flushdb().exec()) as Array<[Error | null, unknown]>;
    expect(replies[0]).toEqual([null, 'OK']);
    if (b.remote) {
      const refused = (what: string) => new RegExp(`^ERR ${what} inside a transaction \\(MULTI, or a command over several keys\\) is not supported by a remote backend; run it on its own$`);
      expect(replies[1]?.[0]?.message).toMatch(refused('DBSIZE'));
      expect(replies[2]?.[0]?.message).toMatch(refused('SCAN'));
      expect(replies[3]?.[0]?.message).toMatch(refused('KEYS'));
      expect(replies[4]?.[0]?.message).toMatch(refused('RANDOMKEY'));
      expect(replies[5]?.[0]?.message).toMatch(refused('FLUSHDB and FLUSHALL'));
      // The SET ran; the refused FLUSHDB deleted nothing.
      expect(await redis.mget('{t}a', '{t}k')).toEqual(['1', 'v']);
    } else {
      expect(replies[1]).toEqual([null, 2]);
      expect((replies[2]?.[1] as [string, string[]])[1].sort()).toEqual(['{t}a', '{t}k']);
      expect((replies[3]?.[1] as string[]).sort()).toEqual(['{t}a', '{t}k']);
      expect(['{t}a', '{t}k']).toContain(replies[4]?.[1]);
      expect(replies[5]).toEqual([null, 'OK']);
      expect(await redis.dbsize()).toBe(0);
    }
  });

  it(b.name === 'etcd' ? `refuses a unit of ${MANY_KEYS} keys, past etcd's --max-txn-ops, applying nothing` : `runs a unit of ${MANY_KEYS} keys`, async () => {
    const { redis } = await b.serve();
    const keys = Array.from({ length: MANY_KEYS }, (_, i) => `{t}many:${i}`);
    const fits = keys.slice(0, 128);
    expect(await redis.mset(...fits.flatMap((k) => [k, 'v']))).toBe('OK');
    expect(await redis.mget(...fits)).toEqual(fits.map(() => 'v'));
    const refused = /^ERR etcd refused the transaction: it holds more keys than etcd takes in one \(--max-txn-ops, 128 by default\)$/;
    const last = keys[MANY_KEYS - 1] as string;
    if (b.name === 'etcd') {
      await expect(redis.mset(...keys.flatMap((k) => [k, 'w']))).rejects.toThrow(refused);
      expect(await redis.get(keys[0] as string)).toBe('v');
      expect(await redis.exists(last)).toBe(0);
      // Reads and deletes of that many keys are one etcd transaction too (MGET: one snapshot of every key).
      await expect(redis.mget(...keys)).rejects.toThrow(refused);
      await expect(redis.exists(...keys)).rejects.toThrow(refused);
      await expect(redis.del(...keys)).rejects.toThrow(refused);
      expect(await redis.get(keys[0] as string)).toBe('v');
    } else {
      expect(await redis.mset(...keys.flatMap((k) => [k, 'w']))).toBe('OK');
      expect(await redis.mget(...keys)).toEqual(keys.map(() => 'w'));
      expect(await redis.del(...keys)).toBe(MANY_KEYS);
    }
  });

  it(b.name === 'etcd' ? 'refuses a value past etcd\'s request size (about 1.5 MiB) with VALUE_TOO_LARGE' : 'stores a 2 MiB value when --max-value-size allows it', async () => {
    const served = await b.serve({ limits: { maxValueSize: 4 * 1024 * 1024 } });
    const { redis } = served;
    const big = Buffer.alloc(2 * 1024 * 1024, 'x');
    if (b.name === 'etcd') {
      await expect(redis.set('big', big)).rejects.toThrow(/^ERR etcd refused the request as too large \(etcd takes at most 1\.5 MiB a request by default: --max-request-bytes\)$/);
      // A refusal of the request is not the engine gone: the gateway stays ready.
      expect(served.server.server.store.writeBlocker()).toBeNull();
      expect(await redis.exists('big')).toBe(0);
      expect(await redis.set('fits', Buffer.alloc(1024 * 1024, 'y'))).toBe('OK');
    } else {
      expect(await redis.set('big', big)).toBe('OK');
      expect(await redis.strlen('big')).toBe(big.length);
    }
  });
});

forEachBackend((b) => {
  it('reads more than gRPC\'s default 4 MiB in one command: MGET and EXEC of five 1 MiB values, byte for byte', async () => {
    const { redis } = await b.serve({ limits: { maxValueSize: 4 * 1024 * 1024 } });
    // One hash slot, so that Redis Cluster takes them in one command too.
    const keys = ['{big}a', '{big}b', '{big}c', '{big}d', '{big}e'];
    const values = keys.map((k) => Buffer.alloc(1024 * 1024, k.slice(-1)));
    for (const [i, k] of keys.entries()) await redis.set(k, values[i] as Buffer);
    const got = await redis.mgetBuffer(...keys);
    expect(got.map((v, i) => v?.equals(values[i] as Buffer))).toEqual(keys.map(() => true));
    const multi = redis.multi();
    for (const k of keys) multi.getBuffer(k);
    const replies = (await multi.exec()) ?? [];
    expect(replies.map(([err, v], i) => err === null && (v as Buffer).equals(values[i] as Buffer))).toEqual(keys.map(() => true));
  });
});

forEachBackend((b) => {
  it('refuses CHANGES and the HTTP watch and stream, saying why', async () => {
    const { redis, http } = await b.serve();
    const why = /watching changes is not supported by the redis-cluster backend/;
    await expect(redis.call('CHANGES', '0')).rejects.toThrow(why);
    await redis.set('k', 'v');
    const [, v] = (await redis.call('GETVER', 'k')) as [string, number];
    for (const url of [`${http}/v1/changes?since=0&wait=1s`, `${http}/v1/kv/k?wait=1s&index=${v}`]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(501);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('NOT_SUPPORTED');
      expect(body.error.message).toMatch(why);
    }
    const sse = await fetch(`${http}/v1/changes?since=0`, { headers: { Accept: 'text/event-stream' } });
    expect(sse.status).toBe(501);
    await sse.body?.cancel();
  });
}, ['redis-cluster']);
