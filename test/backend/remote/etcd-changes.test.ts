import { describe, expect, it } from 'vitest';
import { etcdClusterFixture, haveEtcd, type EtcdCluster } from '../../helpers/etcd-cluster.js';
import { gatewayFixture, until } from '../../helpers/gateway.js';

type Page = [number, number, Array<[string, string, number]>];

/**
 * Backend.changes over etcd's watch (src/backend/etcd/etcd-changes.ts), through CHANGES:
 * the history is etcd's, so a watcher may ask any gateway, and revisions are etcd's.
 */
describe.skipIf(!haveEtcd())('watching changes over etcd', () => {
  const etcd = etcdClusterFixture();
  const gateways = gatewayFixture();
  const gateway = (cluster: EtcdCluster) => gateways.start({ kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix: 'test/', requestTimeoutMs: 3000 } });
  const modRevision = async (cluster: EtcdCluster, key: string) =>
    (JSON.parse(await cluster.etcdctl(['get', `test/${key}`, '-w', 'json'])) as { kvs: Array<{ mod_revision: number }> }).kvs[0]?.mod_revision;

  /** The first CHANGES starts the gateway's watch cache: answers the revision to go on from. */
  const prime = async (g: { redis: { call(...args: string[]): Promise<unknown> } }) => {
    const [revision, compacted] = (await g.redis.call('CHANGES', '0')) as Page;
    expect(compacted).toBe(1);
    return revision;
  };

  it('lists what other gateways wrote after a revision: puts, expiries and deletes, with etcd revisions, and nothing outside the prefix', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    await a.redis.set('before', 'x');
    const start = await prime(a);
    const [, before] = (await a.redis.call('GETVER', 'before')) as [string, number];
    expect(start).toBeGreaterThanOrEqual(before);
    await b.redis.set('k1', 'one');
    await cluster.etcdctl(['put', 'other/x', 'not ours']);
    await b.redis.expire('k1', 100);
    await b.redis.del('before');
    const rev = await modRevision(cluster, 'k1');
    // The cache trails etcd by a moment: wait for the last change (BLOCK answers at the first).
    let events: Page[2] = [];
    let next = start;
    for (let i = 0; i < 50 && events.length < 3; i++) {
      const [n, compacted, page] = (await a.redis.call('CHANGES', String(start), 'BLOCK', '200')) as Page;
      expect(compacted).toBe(0);
      events = page;
      next = n;
    }
    expect(events.map(([op, key]) => [op, key])).toEqual([
      ['put', 'k1'],
      ['expire', 'k1'],
      ['del', 'before'],
    ]);
    expect(events[1]?.[2]).toBe(rev);
    expect(next).toBeGreaterThanOrEqual(events[2]?.[2] as number);
    // Nothing after the revision it gave: at once, an empty page.
    const [again, , none] = (await a.redis.call('CHANGES', String(next))) as Page;
    expect(none).toEqual([]);
    expect(again).toBeGreaterThanOrEqual(next);
    // PREFIX keeps the keys that start with it.
    const [, , only] = (await a.redis.call('CHANGES', String(start), 'PREFIX', 'bef')) as Page;
    expect(only.map(([op, key]) => [op, key])).toEqual([['del', 'before']]);
    // A revision from before the cache began is compacted: read the keys again.
    expect(((await a.redis.call('CHANGES', String(start - 1))) as Page)[1]).toBe(1);
  });

  it('BLOCK waits on one gateway for a write through another, and times out empty when none comes', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const b = await gateway(cluster);
    const from = await prime(a);
    const waiting = a.redis.call('CHANGES', String(from), 'BLOCK', '10000') as Promise<Page>;
    await new Promise((r) => setTimeout(r, 200));
    await b.redis.set('woke', 'yes');
    const [, , events] = await waiting;
    expect(events.map(([op, key]) => [op, key])).toEqual([['put', 'woke']]);
    const started = Date.now();
    const [, , none] = (await a.redis.call('CHANGES', String(events[0]?.[2]), 'BLOCK', '300')) as Page;
    expect(none).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('the keys of one transaction come as one revision, and COUNT pages go on without a gap', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const from = await prime(a);
    await a.redis.mset('m1', '1', 'm2', '2', 'm3', '3');
    await a.redis.set('after', '4');
    const seen: Page[2] = [];
    let next = from;
    for (let i = 0; i < 50 && seen.length < 4; i++) {
      const [n, , page] = (await a.redis.call('CHANGES', String(next), 'COUNT', '2', 'BLOCK', '200')) as Page;
      seen.push(...page);
      next = n;
    }
    expect(seen.map(([, key]) => key)).toEqual(['m1', 'm2', 'm3', 'after']);
    expect(new Set(seen.slice(0, 3).map(([, , v]) => v)).size).toBe(1);
    expect(seen[3]?.[2]).toBeGreaterThan(seen[0]?.[2] as number);
  });

  it('the watch starts again after etcd was away, from the revision it had seen: no change is missed', async () => {
    const cluster = await etcd.start({ members: 1 });
    const a = await gateway(cluster);
    const from = await prime(a);
    await a.redis.set('k', 'before');
    const member = cluster.members[0];
    if (member === undefined) throw new Error('no member');
    await cluster.kill(member);
    await cluster.restart(member);
    // Written through another gateway while a's watch may still be down.
    const b = await gateway(cluster);
    await b.redis.set('k2', 'after');
    await b.redis.set('k3', 'after');
    let seen: string[] = [];
    await until(async () => {
      const [, compacted, page] = (await a.redis.call('CHANGES', String(from))) as Page;
      expect(compacted).toBe(0);
      seen = page.map(([, key]) => key);
      return seen.length >= 3;
    }, 15_000).catch(() => undefined);
    expect(seen).toEqual(['k', 'k2', 'k3']);
  });
});
