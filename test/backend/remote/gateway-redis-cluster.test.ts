import { describe, expect, it } from 'vitest';
import { keySlot } from '../../../src/backend/redis-cluster/redis-cluster-engine.js';
import { havePeer } from '../../helpers/peers.js';
import { redisClusterFixture, type RedisCluster } from '../../helpers/redis-cluster.js';
import { gatewayFixture, until } from '../../helpers/gateway.js';

/**
 * dualkv as a stateless gateway over a real Redis Cluster (Debian's redis-server 7.0,
 * cluster mode) on loopback: routing by hash slot, versions kept by server-side scripts,
 * and multi-key commands only within one slot, as Redis Cluster itself answers.
 */
describe.skipIf(!(havePeer('redis-server', 'redis-server') && havePeer('redis-cli', 'redis-tools')))('--backend redis-cluster', () => {
  const clusters = redisClusterFixture();
  const gateways = gatewayFixture();
  const gateway = (cluster: RedisCluster) => gateways.start({ kind: 'redis-cluster', redisCluster: { nodes: cluster.seeds, commandTimeoutMs: 3000 } });

  it('routes keys of every slot through one gateway and reads them through another', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    // The keys land on every master.
    expect(new Set(keys.map((k) => Math.floor(keySlot(k) / 5462))).size).toBe(3);
    for (const k of keys) expect(await a.redis.set(k, `v-${k}`)).toBe('OK');
    for (const k of keys) expect(await b.redis.get(k)).toBe(`v-${k}`);
    expect(await b.redis.dbsize()).toBe(keys.length);
    expect(a.server.server.backend.dbsize()).toBe(0);
  });

  it('counts exactly when two gateways INCR one key at once', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const each = 50;
    await Promise.all([...Array.from({ length: each }, () => a.redis.incr('n')), ...Array.from({ length: each }, () => b.redis.incr('n'))]);
    expect(await a.redis.get('n')).toBe(String(2 * each));
  });

  it('keeps a version per key that CAS compares, across gateways and across a delete', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    await a.redis.set('cfg', 'one');
    const [, v1] = (await a.redis.call('GETVER', 'cfg')) as [string, number];
    expect(await b.redis.call('CAS', 'cfg', String(v1), 'two')).toEqual(['OK', expect.any(Number)]);
    expect(((await a.redis.call('CAS', 'cfg', String(v1), 'three')) as [string, number])[0]).toBe('CONFLICT');
    const [, v2] = (await a.redis.call('GETVER', 'cfg')) as [string, number];
    expect(v2).toBeGreaterThan(v1);
    await a.redis.del('cfg');
    await a.redis.set('cfg', 'again');
    const [, v3] = (await a.redis.call('GETVER', 'cfg')) as [string, number];
    expect(v3).toBeGreaterThan(v2);
  });

  it('refuses multi-key commands and transactions across slots with CROSSSLOT, and runs them within one (hash tags)', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    expect(keySlot('a')).not.toBe(keySlot('b'));
    await expect(a.redis.mset('a', '1', 'b', '2')).rejects.toThrow(/^CROSSSLOT Keys in request don't hash to the same slot/);
    await expect(a.redis.mget('a', 'b')).rejects.toThrow(/^CROSSSLOT/);
    await expect(a.redis.exists('a', 'b')).rejects.toThrow(/^CROSSSLOT/);
    expect((await a.redis.exists('a')) + (await a.redis.exists('b'))).toBe(0);
    expect(await a.redis.mset('{user:1}name', 'ann', '{user:1}mail', 'ann@example.org')).toBe('OK');
    expect(await a.redis.mget('{user:1}name', '{user:1}mail')).toEqual(['ann', 'ann@example.org']);
    expect(await a.redis.multi().incr('{t}n').set('{t}m', 'x').rename('{t}m', '{t}o').exec()).toEqual([
      [null, 1],
      [null, 'OK'],
      [null, 'OK'],
    ]);
    await expect(a.redis.multi().set('a', '1').set('b', '2').exec()).rejects.toThrow(/EXECABORT/);
    expect((await a.redis.exists('a')) + (await a.redis.exists('b'))).toBe(0);
  });

  it('expires keys as Redis does, through the cluster\'s own expiry', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    await a.redis.set('s', 'x', 'PX', 200);
    const ttl = await a.redis.pttl('s');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(200);
    await until(async () => (await a.redis.exists('s')) === 0, 2000);
    expect(await a.redis.get('s')).toBeNull();
  });

  it('SCAN walks every master', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    const keys = Array.from({ length: 40 }, (_, i) => `key:${i}`);
    for (const k of keys) await a.redis.set(k, 'v');
    const seen = new Set<string>();
    let cursor = '0';
    let steps = 0;
    do {
      const [next, page] = await a.redis.scan(cursor, 'COUNT', 10);
      for (const k of page) seen.add(k);
      cursor = next;
    } while (cursor !== '0' && ++steps < 200);
    expect([...seen].sort()).toEqual([...keys].sort());
  });

  it('refuses change notifications, saying why', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const a = await gateway(cluster);
    await expect(a.redis.call('CHANGES', '0')).rejects.toThrow(/watching changes is not supported by the redis-cluster backend/);
  });
});
