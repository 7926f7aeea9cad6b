import { describe, expect, it } from 'vitest';
import { ETCD, etcdClusterFixture, type EtcdCluster } from '../../helpers/etcd-cluster.js';
import { havePeer } from '../../helpers/peers.js';
import { gatewayFixture, until } from '../../helpers/gateway.js';

/**
 * dualkv as a stateless gateway over a real etcd (Debian's etcd-server 3.4) on loopback:
 * two gateways share one etcd, so what one writes the other reads, and their
 * read-modify-writes race through etcd's transactions, not through either gateway.
 */
describe.skipIf(!havePeer(ETCD.bin, ETCD.pkg))('--backend etcd', () => {
  const etcd = etcdClusterFixture();
  const gateways = gatewayFixture();
  const gateway = (cluster: EtcdCluster, prefix = 'test/') =>
    gateways.start({ kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix, requestTimeoutMs: 3000 } });

  it('keeps no data of its own: a write through one gateway is read through another and lands in etcd under the prefix', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    expect(await a.redis.set('k', 'v1')).toBe('OK');
    expect(await b.redis.get('k')).toBe('v1');
    expect(await cluster.etcdctl(['get', '--prefix', 'test/', '--keys-only'])).toContain('test/k');
    expect(a.server.server.backend.dbsize()).toBe(0);
    expect(await b.redis.dbsize()).toBe(1);
  });

  it('counts exactly when two gateways INCR one key at once (compare-and-retry through etcd transactions)', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const each = 40;
    await Promise.all([
      Promise.all(Array.from({ length: each }, () => a.redis.incr('counter'))),
      Promise.all(Array.from({ length: each }, () => b.redis.incr('counter'))),
    ]);
    expect(await a.redis.get('counter')).toBe(String(2 * each));
  });

  it('versions are etcd mod_revisions, and CAS holds across gateways', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    await a.redis.set('cfg', 'one');
    const [, version] = (await a.redis.call('GETVER', 'cfg')) as [string, number];
    const json = JSON.parse(await cluster.etcdctl(['get', 'test/cfg', '-w', 'json'])) as { kvs: Array<{ mod_revision: number }> };
    const rev = json.kvs[0]?.mod_revision as number;
    expect(rev).toBeGreaterThan(0);
    expect(version).toBe(rev);
    expect(await b.redis.call('CAS', 'cfg', String(rev), 'two')).toEqual(['OK', expect.any(Number)]);
    // The same version again loses: the key moved on.
    const lost = (await a.redis.call('CAS', 'cfg', String(rev), 'three')) as [string, number];
    expect(lost[0]).toBe('CONFLICT');
    expect(await a.redis.get('cfg')).toBe('two');
  });

  it('expires keys exactly, though their shared lease reclaims them later', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    await a.redis.set('s1', 'x', 'PX', 300);
    await a.redis.set('s2', 'y', 'PX', 320);
    const ttl = await a.redis.pttl('s1');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    // Both expire in the same second (or the next): at most two leases, not one per key.
    const leases = (await cluster.etcdctl(['lease', 'list'])).split('\n').filter((l) => /^[0-9a-f]+$/.test(l.trim()));
    expect(leases.length).toBeLessThanOrEqual(2);
    await until(async () => (await a.redis.exists('s1', 's2')) === 0, 2000);
    expect(await a.redis.get('s1')).toBeNull();
    expect(await a.redis.persist('s2')).toBe(0);
  });

  it('MULTI/EXEC is one etcd transaction, and WATCH aborts it when another gateway wrote the key', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    expect(await a.redis.multi().set('t1', '1').incr('t1').mset('t2', 'x', 't3', 'y').get('t1').exec()).toEqual([
      [null, 'OK'],
      [null, 2],
      [null, 'OK'],
      [null, '2'],
    ]);
    expect(await b.redis.mget('t1', 't2', 't3')).toEqual(['2', 'x', 'y']);
    await a.redis.watch('t1');
    await b.redis.set('t1', 'changed');
    expect(await a.redis.multi().set('t1', 'mine').exec()).toBeNull();
    expect(await a.redis.get('t1')).toBe('changed');
  });

  it('SCAN and KEYS walk etcd under the prefix only', async () => {
    const cluster = await etcd.start({ members: 1 });
    await cluster.etcdctl(['put', 'other/x', 'not ours']);
    const a = await gateway(cluster);
    const keys = Array.from({ length: 25 }, (_, i) => `key:${i}`);
    await a.redis.mset(...keys.flatMap((k) => [k, 'v']));
    const seen = new Set<string>();
    let cursor = '0';
    let steps = 0;
    do {
      const [next, page] = await a.redis.scan(cursor, 'COUNT', 7);
      for (const k of page) seen.add(k);
      cursor = next;
    } while (cursor !== '0' && ++steps < 100);
    expect([...seen].sort()).toEqual([...keys].sort());
    expect((await a.redis.keys('key:1*')).sort()).toEqual(['key:1', 'key:10', 'key:11', 'key:12', 'key:13', 'key:14', 'key:15', 'key:16', 'key:17', 'key:18', 'key:19']);
  });

  it('starts before etcd is up, is not ready and refuses commands with CLUSTERDOWN, then serves once etcd answers', async () => {
    const cluster = await etcd.start({ members: 1 });
    const member = cluster.members[0];
    if (member === undefined) throw new Error('no member');
    await cluster.kill(member);
    const { server, redis } = await gateways.start({ kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix: 'test/', requestTimeoutMs: 1000 } }, { ready: false });
    expect(server.server.store.writeBlocker()?.code).toBe('BACKEND_UNAVAILABLE');
    await expect(redis.set('k', 'v')).rejects.toThrow(/^CLUSTERDOWN the etcd backend is not reachable/);
    expect(await redis.info('backend')).toMatch(/backend_status:unavailable/);
    await cluster.restart(member);
    await until(() => server.server.store.writeBlocker() === null, 15_000);
    expect(await redis.set('k', 'v')).toBe('OK');
    expect(await redis.get('k')).toBe('v');
  });

  it('refuses what the guarantee matrix refuses, saying why', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const replies = (await a.redis.multi().set('a', '1').dbsize().exec()) as Array<[Error | null, unknown]>;
    expect(replies[0]).toEqual([null, 'OK']);
    expect(replies[1]?.[0]?.message).toMatch(/DBSIZE inside a transaction .* is not supported by a remote backend/);
    // What ran in the transaction was applied, as Redis applies the rest of an EXEC after a failing command.
    expect(await a.redis.get('a')).toBe('1');
  });
});
