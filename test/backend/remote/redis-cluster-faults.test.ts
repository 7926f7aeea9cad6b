import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { EngineRead } from '../../../src/backend/remote/engine.js';
import { keySlot, RedisClusterEngine } from '../../../src/backend/redis-cluster/redis-cluster-engine.js';
import { KvError } from '../../../src/errors.js';
import { gatewayFixture, until } from '../../helpers/gateway.js';
import { haveRedisCluster, redisClusterFixture, type RedisCluster, type RedisClusterNode } from '../../helpers/redis-cluster.js';
import { appliedDespiteRefusal, describeLoad, failingForMs, loadClientFixture, nonLinearizableKeys, Outcome, RegisterLoad, runOne, type LoadRecord } from '../../helpers/register-load.js';

/**
 * Faults under load (issue 15): a real Redis Cluster (redis-server 7.0) on loopback behind
 * a gateway. A master killed with SIGKILL fails over to its replica, and the gateway carries
 * on; Redis replicates asynchronously, so acknowledged writes can be lost then (README
 * "Guarantees by backend"): the test counts them and says how many, it does not ask for none.
 * Slots moved with redis-cli --cluster reshard under load lose nothing and fail nothing.
 */
const WORKERS = 6;
const BACKEND_TIMEOUT_MS = 3000;
/** Bounds of each load: commands per worker and time. */
const MAX_OPS_PER_WORKER = 400;
const MAX_LOAD_MS = 30_000;
/** How long the gateway may take to write to the killed master's slots again, from the kill. */
const RECOVERY_BOUND_MS = 15_000;
/** Keys written beside each load key in its slot before a reshard. */
const FILLERS_PER_SLOT = 100;

describe.skipIf(!haveRedisCluster())('a Redis Cluster gateway under faults', () => {
  const clusters = redisClusterFixture();
  const gateways = gatewayFixture();
  const clients = loadClientFixture();

  const connectWorkers = async (cluster: RedisCluster): Promise<Redis[][]> => {
    const { server } = await gateways.start({ kind: 'redis-cluster', redisCluster: { nodes: cluster.seeds, commandTimeoutMs: BACKEND_TIMEOUT_MS } });
    return Promise.all(Array.from({ length: WORKERS }, async () => [await clients.connect(server.tcpPort)]));
  };

  it('fails over when a master is killed (SIGKILL) under a write load: the gateway carries on, and the acknowledged writes lost are counted', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 1 });
    const conns = await connectWorkers(cluster);
    // Every write to a key of its own, so that a write lost is a key missing afterwards.
    const load = new RegisterLoad({ connections: conns, keyFor: (w, n) => `f:${w}:${n}`, readShare: 0, maxOpsPerWorker: MAX_OPS_PER_WORKER, maxMs: MAX_LOAD_MS });
    await load.waitFor(() => load.acked() >= 150, '150 acknowledged writes');

    const [victim] = await cluster.masters();
    if (victim === undefined) throw new Error('no master');
    const slots = victim.slots;
    const onVictim = (key: string): boolean => slots.some(([lo, hi]) => keySlot(key) >= lo && keySlot(key) <= hi);
    const ackedOnVictim = (since: number): number => load.records.filter((r) => r.outcome === Outcome.ok && r.invoke >= since && onVictim(r.key)).length;
    const killedAt = performance.now();
    const promoted = await load.during(async () => {
      await cluster.killNode(victim);
      return cluster.waitForFailover(victim);
    });
    const failoverMs = Math.round(performance.now() - killedAt);
    // The gateway writes to the slots the dead master held again, within a bound.
    await load.waitFor(() => ackedOnVictim(killedAt) >= 30, "30 acknowledged writes to the killed master's slots", RECOVERY_BOUND_MS);
    const recoveredAt = performance.now();
    await load.waitFor(() => load.acked(recoveredAt) >= 150, '150 more acknowledged writes after the gateway recovered');
    const records = await load.stop();
    const failingMs = failingForMs(records, killedAt);
    expect(promoted.role).toBe('master');

    // No permanent errors: once recovered, a write to every master's slots succeeds.
    const after: LoadRecord[] = [];
    for (let n = 0; n < 60; n++) after.push(await runOne(conns[0]?.[0] as Redis, 'after', 'put', `after:${n}`, `a${n}`));
    expect(after.filter((r) => r.outcome !== Outcome.ok).map((r) => r.error)).toEqual([]);
    expect(after.some((r) => onVictim(r.key))).toBe(true);

    // What is there now: every write that was acknowledged, refused or left unknown, read back.
    const reader = conns[1]?.[0] as Redis;
    const writes = records.filter((r) => r.kind === 'put');
    const values = await Promise.all(writes.map((w) => reader.get(w.key)));
    const found = new Map(writes.map((w, i) => [w, values[i] ?? null]));
    const finals: LoadRecord[] = writes.map((w) => ({ client: 'final', kind: 'get', key: w.key, value: found.get(w) ?? null, invoke: 0, response: 0, outcome: Outcome.ok }));
    const acked = writes.filter((w) => w.outcome === Outcome.ok);
    const lost = acked.filter((w) => found.get(w) !== w.value);
    const unknown = writes.filter((w) => w.outcome === Outcome.indeterminate);
    const unknownApplied = unknown.filter((w) => found.get(w) === w.value).length;

    process.stdout.write(
      [
        `Redis Cluster failover: ${lost.length} of ${acked.length} acknowledged writes lost (${lost.filter((w) => onVictim(w.key)).length} of ${acked.filter((w) => onVictim(w.key)).length} to the killed master's slots)`,
        `  failover (kill to a promoted replica the cluster agrees on) ${failoverMs} ms; commands failed for ${failingMs} ms after the kill`,
        `  writes with an unknown outcome: ${unknown.length}, of which ${unknownApplied} applied`,
        `  ${describeLoad(records)}`,
      ].join('\n') + '\n',
    );
    // The figure is computed over every acknowledged write; it need not be zero (README "Guarantees by backend").
    expect(Number.isInteger(lost.length)).toBe(true);
    expect(acked.length).toBeGreaterThanOrEqual(330);
    expect(lost.length).toBeLessThanOrEqual(acked.filter((w) => onVictim(w.key)).length);
    // A write the gateway said was not applied never shows up (errors.ts).
    expect(appliedDespiteRefusal([...records, ...finals]).map((r) => `${r.key}: ${r.error ?? ''}`)).toEqual([]);
  }, 80_000);

  it('never sends a commit again after its connection dropped with the commit on it: the outcome is unknown, not a lost race (an INCR applied twice)', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const engine = new RedisClusterEngine({ nodes: cluster.seeds, commandTimeoutMs: BACKEND_TIMEOUT_MS });
    try {
      await until(() => engine.ping().then(() => true, () => false));
      await engine.put('n', '1');
      const [read] = (await engine.read(['n'])) as [EngineRead];
      // A first commit loads the script on the key's master, so that the next goes out as one EVALSHA at once.
      const rev = (await engine.commit(new Map([['n', read.revision]]), [{ kind: 'put', key: 'n', value: '2', expiresAt: 0 }]))?.get('n') as number;
      const commit = engine.commit(new Map([['n', rev]]), [{ kind: 'put', key: 'n', value: '3', expiresAt: 0 }]).catch((err: unknown) => err);
      // The script is on the wire: give the master time to run it and answer, then drop the
      // connection before the answer is read, as a master killed right after a write does.
      const spinUntil = Date.now() + 100;
      while (Date.now() < spinUntil);
      for (const node of (engine as unknown as { cluster: Cluster }).cluster.nodes('all')) (node as unknown as { stream?: Socket }).stream?.destroy();
      const outcome = await commit;
      expect((await engine.read(['n']))[0]?.entry?.value).toBe('3');
      // Applied once; answering null ("the key moved on, nothing applied") would make the caller apply it again.
      expect(outcome).toBeInstanceOf(KvError);
      expect((outcome as KvError).code).toBe('BACKEND_UNAVAILABLE');
      expect((outcome as KvError).message).toMatch(/may or may not have been applied/);
    } finally {
      await engine.close();
    }
  });

  it("writes keys of a slot that is migrating while they are still on the source (a reshard's state between two MIGRATEs)", async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const { redis } = await gateways.start({ kind: 'redis-cluster', redisCluster: { nodes: cluster.seeds, commandTimeoutMs: BACKEND_TIMEOUT_MS } });
    const slot = keySlot('{mig}');
    await redis.set('{mig}plain', 'before');
    await redis.set('{mig}n', '1');
    const source = await cluster.ownerOf(slot);
    const target = (await cluster.masters()).find((m) => m.port !== source.port) as RedisClusterNode;
    // What redis-cli --cluster reshard does first for a slot (cluster spec, "Live reconfiguration").
    await cluster.call(target, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
    await cluster.call(source, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
    // A plain write (the put script) and a read-modify-write (read, then the commit script) of keys still on the source.
    expect(await redis.set('{mig}plain', 'during')).toBe('OK');
    expect(await redis.incr('{mig}n')).toBe(2);
    expect(await redis.set('{mig}ttl', 'x', 'PX', 60_000)).toBe('OK');
    expect(await redis.mget('{mig}plain', '{mig}n')).toEqual(['during', '2']);
  });

  it('moves slots with redis-cli --cluster reshard under a GET/SET load through the gateway: no command fails, nothing acknowledged is lost', async () => {
    const cluster = await clusters.start({ masters: 3, replicas: 0 });
    const [from, to] = (await cluster.masters()) as [RedisClusterNode, RedisClusterNode];
    const moved = 1000;
    // redis-cli moves the source's lowest slots first; one key in each of 24 slots spread over them.
    const first = from.slots[0]?.[0] ?? 0;
    const wanted = new Set(Array.from({ length: 24 }, (_, i) => first + Math.floor((i * moved) / 24)));
    const keys: string[] = [];
    for (let n = 0; wanted.size > 0 && n < 200_000; n++) {
      const key = `m:${n}`;
      if (wanted.delete(keySlot(key))) keys.push(key);
    }
    expect(keys.length).toBe(24);
    const conns = await connectWorkers(cluster);
    // Keys of the same slots ({tag}), so that each slot takes several MIGRATE rounds: a load key moved while others wait.
    for (const key of keys) await conns[0]?.[0]?.mset(...Array.from({ length: FILLERS_PER_SLOT }, (_, i) => [`{${key}}:fill:${i}`, 'x']).flat());
    const load = new RegisterLoad({ connections: conns, keyFor: () => keys[Math.floor(Math.random() * keys.length)] as string, readShare: 0.5, maxOpsPerWorker: MAX_OPS_PER_WORKER, maxMs: MAX_LOAD_MS, pauseMs: 10 });
    await load.waitFor(() => load.acked() >= 60, '60 acknowledged writes');
    const reshardAt = performance.now();
    await load.during(() => cluster.reshard(from, to, moved));
    const reshardMs = Math.round(performance.now() - reshardAt);
    const doneAt = performance.now();
    await load.waitFor(() => load.acked(doneAt) >= 60, '60 acknowledged writes after the reshard');
    const records = await load.stop();
    // ASKING comes before each command the gateway's client sent to a slot's new owner mid-move.
    const askings = (await Promise.all(cluster.nodes.map((n) => cluster.call(n, 'INFO', 'commandstats'))))
      .map((info) => Number(/cmdstat_asking:calls=(\d+)/.exec(String(info))?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
    const meanwhile = records.filter((r) => r.invoke >= reshardAt && r.invoke < doneAt).length;
    process.stdout.write(`Redis Cluster reshard of ${moved} slots: ${reshardMs} ms, ${meanwhile} commands meanwhile, ${askings} sent after ASK; ${describeLoad(records)}\n`);

    // Every key now lives on the target.
    for (const key of keys) expect((await cluster.ownerOf(keySlot(key))).port).toBe(to.port);
    expect(records.filter((r) => r.outcome !== Outcome.ok).map((r) => r.error)).toEqual([]);
    expect(meanwhile).toBeGreaterThan(0);
    const final: LoadRecord[] = [];
    for (const key of keys) final.push(await runOne(conns[0]?.[0] as Redis, 'final', 'get', key, ''));
    expect(final.filter((r) => r.outcome !== Outcome.ok)).toEqual([]);
    // No failover here: each key's history is linearizable, so every acknowledged write is there or overwritten.
    expect(nonLinearizableKeys([...records, ...final])).toEqual([]);
  }, 80_000);
});
