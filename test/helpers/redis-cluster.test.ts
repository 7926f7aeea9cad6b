import { existsSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { pidExists } from '../../bench/lib/peer-process.js';
import { CLUSTER_SLOTS, haveRedisCluster, redisClusterFixture, type RedisCluster, type RedisClusterNode } from './redis-cluster.js';

const slotCount = (node: RedisClusterNode): number => node.slots.reduce((sum, [lo, hi]) => sum + hi - lo + 1, 0);

describe.skipIf(!haveRedisCluster())('the Redis Cluster fixture', () => {
  const redis = redisClusterFixture();
  const clients: Array<Cluster | Redis> = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });

  /** An ioredis cluster client that starts from the fixture's seeds. */
  function connect(cluster: RedisCluster): Cluster {
    const client = new Cluster(
      cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      { redisOptions: { password: cluster.password }, clusterRetryStrategy: (times) => (times > 20 ? null : 100) },
    );
    client.on('error', () => undefined); // a dead seed; commands still fail loudly
    clients.push(client);
    return client;
  }

  async function setKeys(client: Cluster, count: number, prefix: string): Promise<void> {
    for (let i = 0; i < count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => client.set(`${prefix}:${i + j}`, `v${i + j}`)));
    }
  }

  async function getKeys(client: Cluster, count: number, prefix: string): Promise<Array<string | null>> {
    return Promise.all(Array.from({ length: count }, (_, i) => client.get(`${prefix}:${i}`)));
  }

  it('three masters and three replicas serve keys on every master; a master killed with SIGKILL is replaced by its replica, keeps its keys, and rejoins as a replica', async () => {
    const cluster = await redis.start({ masters: 3, replicas: 1 });
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    expect(masters.reduce((sum, m) => sum + slotCount(m), 0)).toBe(CLUSTER_SLOTS);
    for (const m of masters) expect(await cluster.replicasOf(m)).toHaveLength(1);
    expect(cluster.seeds).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.port}`));

    const client = connect(cluster);
    await setKeys(client, 300, 'k');
    const sizes = await Promise.all(masters.map(async (m) => Number(await cluster.call(m, 'DBSIZE'))));
    expect(sizes.every((s) => s > 0)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);

    await cluster.waitReplicated();
    const victim = masters[0] as RedisClusterNode;
    const [replica] = await cluster.replicasOf(victim);
    const victimPid = victim.pid;
    await cluster.killNode(victim);
    expect(victim.alive).toBe(false);
    const successor = await cluster.waitForFailover(victim);
    expect(successor).toBe(replica);
    expect(successor.role).toBe('master');

    const after = connect(cluster);
    expect(await getKeys(after, 300, 'k')).toEqual(Array.from({ length: 300 }, (_, i) => `v${i}`));
    await setKeys(after, 100, 'later');

    await cluster.restartNode(victim);
    expect(victim.pid).not.toBe(victimPid);
    expect(victim.role).toBe('replica');
    expect(victim.masterId).toBe(successor.id);

    const pids = cluster.nodes.map((n) => n.pid ?? -1);
    const dirs = cluster.nodes.map((n) => n.dir);
    await cluster.stop();
    expect(pids.filter(pidExists)).toEqual([]);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
  });

  it('with a password, replicas sync through masterauth and a client without the password is refused', async () => {
    const cluster = await redis.start({ masters: 3, replicas: 1, password: 'fixture-secret' });
    await setKeys(connect(cluster), 100, 'p');
    await cluster.waitReplicated();
    for (const m of await cluster.masters()) {
      const [replica] = await cluster.replicasOf(m);
      if (replica === undefined) throw new Error(`master ${m.port} has no replica`);
      expect(await cluster.call(replica, 'DBSIZE')).toBe(await cluster.call(m, 'DBSIZE'));
    }

    const node = cluster.nodes[0] as RedisClusterNode;
    const anonymous = new Redis({ host: node.host, port: node.port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => undefined);
    clients.push(anonymous);
    await anonymous.connect();
    await expect(anonymous.get('p:0')).rejects.toThrow(/NOAUTH/);
  });

  it('a reshard moves slots and their keys from one master to another', async () => {
    const cluster = await redis.start({ masters: 3, replicas: 0 });
    const [from, to] = await cluster.masters();
    if (from === undefined || to === undefined) throw new Error('fewer than two masters');
    const client = connect(cluster);
    // 3,000 keys over 16,384 slots: about 18 of them in the 100 slots that move.
    await setKeys(client, 3000, 'r');
    const fromBefore = slotCount(from);
    const toBefore = slotCount(to);
    const slotsBefore = from.slots.map(([lo, hi]) => [lo, hi] as const);

    await cluster.reshard(from.id, to.id, 100);
    expect(slotCount(from)).toBe(fromBefore - 100);
    expect(slotCount(to)).toBe(toBefore + 100);

    const inRanges = (slot: number, ranges: ReadonlyArray<readonly [number, number]>): boolean => ranges.some(([lo, hi]) => slot >= lo && slot <= hi);
    const direct = new Redis({ host: to.host, port: to.port, password: cluster.password });
    clients.push(direct);
    const keys = Array.from({ length: 3000 }, (_, i) => `r:${i}`);
    const slots = (await direct.pipeline(keys.map((k) => ['cluster', 'keyslot', k])).exec()) ?? [];
    const moved = keys.filter((_, i) => {
      const slot = Number(slots[i]?.[1]);
      return inRanges(slot, slotsBefore) && !inRanges(slot, from.slots);
    });
    expect(moved.length).toBeGreaterThan(0);
    for (const key of moved) expect(await cluster.call(to, 'GET', key)).toBe(`v${key.slice(2)}`);
    await expect(cluster.call(from, 'GET', moved[0] as string)).rejects.toThrow(/MOVED/);
    expect(await getKeys(connect(cluster), 3000, 'r')).toEqual(Array.from({ length: 3000 }, (_, i) => `v${i}`));
  });
});
