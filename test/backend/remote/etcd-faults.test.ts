import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { etcdClusterFixture, haveEtcd, type EtcdCluster, type EtcdMember } from '../../helpers/etcd-cluster.js';
import { gatewayFixture } from '../../helpers/gateway.js';
import { processFixture, type ServerProcess } from '../../helpers/process.js';
import { appliedDespiteRefusal, describeLoad, failingForMs, loadClientFixture, nonLinearizableKeys, Outcome, RegisterLoad, runOne, type LoadRecord } from '../../helpers/register-load.js';

/**
 * Faults under load (issue 15): a 3-member etcd on loopback behind two gateways, a member
 * or a gateway killed with SIGKILL while workers GET and SET a few keys with unique values
 * through both. Every command's interval and outcome is recorded, and each key's history
 * must be linearizable (linearizability.ts): nothing acknowledged is lost, nothing the
 * gateway refused shows up, and a write whose reply was lost may or may not have applied.
 */
const KEYS = ['k0', 'k1', 'k2', 'k3'];
const WORKERS = 6;
/** Bounds of each load: commands per worker and time. */
const MAX_OPS_PER_WORKER = 300;
const MAX_LOAD_MS = 20_000;
/** Acknowledged writes before the fault, and after it (the gateways carry on). */
const WRITES_BEFORE = 60;
const WRITES_AFTER = 150;
const BACKEND_TIMEOUT_MS = 3000;

describe.skipIf(!haveEtcd())('etcd gateways under faults', () => {
  const etcd = etcdClusterFixture();
  const gateways = gatewayFixture();
  const clients = loadClientFixture();
  const procs = processFixture();

  /** Each worker's connections, one to each gateway port, the worker's first choice rotating. */
  const connectWorkers = async (ports: readonly number[]): Promise<Redis[][]> =>
    Promise.all(Array.from({ length: WORKERS }, () => Promise.all(ports.map((p) => clients.connect(p)))));

  /** Runs the load, does `fault` once WRITES_BEFORE writes are acknowledged, then waits for WRITES_AFTER more. */
  const loadAcross = async (conns: Redis[][], fault: () => Promise<void>): Promise<{ load: RegisterLoad; faultAt: number }> => {
    const load = new RegisterLoad({ connections: conns, keyFor: () => KEYS[Math.floor(Math.random() * KEYS.length)] as string, readShare: 0.5, maxOpsPerWorker: MAX_OPS_PER_WORKER, maxMs: MAX_LOAD_MS });
    await load.waitFor(() => load.acked() >= WRITES_BEFORE, `${WRITES_BEFORE} acknowledged writes`);
    const faultAt = performance.now();
    await load.during(fault);
    await load.waitFor(() => load.acked(faultAt) >= WRITES_AFTER, `${WRITES_AFTER} acknowledged writes after the fault`);
    await load.stop();
    return { load, faultAt };
  };

  /** Reads every key through every connection, after the load: these reads are in the history too. */
  const readBack = async (conns: readonly Redis[]): Promise<LoadRecord[]> => {
    const out: LoadRecord[] = [];
    for (const [i, c] of conns.entries()) for (const key of KEYS) out.push(await runOne(c, `final${i}`, 'get', key, ''));
    return out;
  };

  const expectNothingLost = (records: readonly LoadRecord[], final: readonly LoadRecord[]): void => {
    // Every final read answered: the gateways serve with a majority up.
    expect(final.filter((r) => r.outcome !== Outcome.ok).map((r) => r.error)).toEqual([]);
    const all = [...records, ...final];
    expect(appliedDespiteRefusal(all).map((r) => `${r.key}=${String(r.value)}: ${r.error ?? ''}`)).toEqual([]);
    expect(nonLinearizableKeys(all)).toEqual([]);
  };

  const inProcessGateways = async (cluster: EtcdCluster): Promise<number[]> => {
    const started = await Promise.all(
      [0, 1].map(() => gateways.start({ kind: 'etcd', etcd: { endpoints: cluster.endpoints, prefix: 'faults/', requestTimeoutMs: BACKEND_TIMEOUT_MS } })),
    );
    return started.map((g) => g.server.tcpPort);
  };

  const killMember = async (cluster: EtcdCluster, pick: (leader: EtcdMember) => EtcdMember, what: string): Promise<{ load: RegisterLoad; final: LoadRecord[] }> => {
    const ports = await inProcessGateways(cluster);
    const conns = await connectWorkers(ports);
    const { load, faultAt } = await loadAcross(conns, async () => {
      const victim = pick(await cluster.leader());
      await cluster.kill(victim);
      // Two members are a majority: one of them leads (again, or anew).
      await cluster.leader();
    });
    const final = await readBack(conns[0] as Redis[]);
    process.stdout.write(`etcd ${what} killed: commands failed for ${failingForMs(load.records, faultAt)} ms after the kill; ${describeLoad(load.records)}\n`);
    return { load, final };
  };

  it('serves every command while one member is down: a request that cannot reach that member goes to another', async () => {
    const cluster = await etcd.start({ members: 3 });
    const [port] = await inProcessGateways(cluster);
    const conn = await clients.connect(port as number);
    const leader = await cluster.leader();
    await cluster.kill(cluster.members.find((m) => m !== leader) as EtcdMember);
    // Each request picks a member at random: 40 of them all but surely meet the dead one.
    const records: LoadRecord[] = [];
    for (let n = 0; n < 40; n++) records.push(await runOne(conn, 'w', n % 2 === 0 ? 'put' : 'get', 'k', `v${n}`));
    expect(records.filter((r) => r.outcome !== Outcome.ok).map((r) => r.error)).toEqual([]);
  });

  it('loses no acknowledged write when a follower is killed (SIGKILL) under load through two gateways', async () => {
    const cluster = await etcd.start({ members: 3 });
    const { load, final } = await killMember(cluster, (leader) => cluster.members.find((m) => m !== leader) as EtcdMember, 'follower');
    expectNothingLost(load.records, final);
  }, 60_000);

  it('loses no acknowledged write when the leader is killed (SIGKILL) under load, and a new leader serves', async () => {
    const cluster = await etcd.start({ members: 3 });
    const before = await cluster.leader();
    const { load, final } = await killMember(cluster, (leader) => leader, 'leader');
    expect((await cluster.leader()).name).not.toBe(before.name);
    expectNothingLost(load.records, final);
  }, 60_000);

  it('loses no acknowledged write when a gateway process is killed (SIGKILL) mid-load; its commands in flight are indeterminate', async () => {
    const cluster = await etcd.start({ members: 3 });
    const spawnGateway = async (): Promise<{ proc: ServerProcess; port: number }> => {
      const { proc } = procs.start(['--backend', 'etcd', '--etcd-endpoints', cluster.endpoints.join(','), '--etcd-prefix', 'faults/', '--backend-timeout', String(BACKEND_TIMEOUT_MS)]);
      const { tcpPort } = await proc.listening();
      await proc.until((lines) => lines.some((l) => l.msg === 'backend reachable: the gateway is ready'), 'the gateway to reach etcd');
      return { proc, port: tcpPort };
    };
    const [a, b] = await Promise.all([spawnGateway(), spawnGateway()]);
    const conns = await connectWorkers([a.port, b.port]);
    const { load, faultAt } = await loadAcross(conns, async () => {
      await a.proc.kill();
      expect(a.proc.alive).toBe(false);
    });
    // The workers that were on the killed gateway moved to the other one and went on.
    const dropped = load.records.filter((r) => r.response >= faultAt && r.outcome !== Outcome.ok);
    expect(dropped.length).toBeGreaterThan(0);
    const final = await readBack([conns[0]?.[1] as Redis]);
    process.stdout.write(`etcd gateway killed: commands failed for ${failingForMs(load.records, faultAt)} ms after the kill; ${describeLoad(load.records)}\n`);
    expectNothingLost(load.records, final);
  }, 60_000);
});
