/**
 * Issue 15's etcd gateway benchmark: a 3-member etcd 3.4 cluster on loopback, loaded
 * (a) by the etcd3 npm client straight at etcd and (b) through one dualkv gateway
 * (kv-server --backend etcd, a real process from dist/) by RESP clients (ioredis), with the
 * same closed-loop GET/SET mix; (c) through two gateways on the same cluster, the load
 * split over them. Prints ops/s, p50/p99 latency, gateway/direct (target >= 0.8x), the
 * per-operation overhead in µs, and where the CPU went.
 *
 *   npm run bench:gateway-etcd -- [--duration 8] [--ops 300000] [--rounds 3] [--clients 50]
 *                                 [--get-ratio 0.5] [--keyspace 10000] [--gateway-args "--no-log-ops"]
 *   npm run bench:gateway-etcd -- --quick      # a few seconds: that it runs, not figures
 *
 * Each load is `--clients` loops with one request in flight each: the direct client shares
 * one gRPC channel per member, as the gateway's own etcd3 client does; the RESP side has
 * one connection per loop, since a connection's commands run in order. Direct keys live
 * under `direct/`, the gateway's under its prefix `dualkv/` (same length): the gateway
 * stores values in an envelope (docs/FORMATS.md) and refuses keys it did not write.
 * Both keyspaces are written once before the rounds, so every GET finds its key.
 * Phases are interleaved as in bench/tcp-vs-redis.ts; a ratio is the median of the rounds'.
 */
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { trackGroup } from './lib/cleanup.js';
import { runClosedLoop, type ClosedLoopResult } from './lib/closed-loop.js';
import { describeCpuShare, startCpuMeter, type CpuShare } from './lib/cpu-meter.js';
import { ETCD, startEtcdCluster, type EtcdCluster } from './lib/etcd-cluster.js';
import { startGateways } from './lib/gateways.js';
import { ensureDebianPackages, fmt, loadAverage, printTable, type Proc } from './lib/procs.js';
import { median, visitOrder } from './lib/rounds.js';

const argv = await yargs(hideBin(process.argv))
  .option('duration', { type: 'number', default: 8, describe: 'seconds, the longest one measured run takes' })
  .option('ops', { type: 'number', default: 300_000, describe: 'the most requests one measured run sends (it ends at whichever bound comes first)' })
  .option('warmup', { type: 'number', default: 1, describe: 'seconds of the same load before each measured run, not counted' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('clients', { type: 'number', default: 50, describe: 'concurrent loops, one request in flight each' })
  .option('get-ratio', { type: 'number', default: 0.5, describe: 'share of GETs; the rest are SETs' })
  .option('keyspace', { type: 'number', default: 10_000, describe: 'distinct keys, all written before the rounds' })
  .option('key-size', { type: 'number', default: 16, describe: 'bytes per key (without the prefix)' })
  .option('value-size', { type: 'number', default: 100, describe: 'bytes per value' })
  .option('gateway-args', { type: 'string', default: '', describe: 'more kv-server flags for every gateway, e.g. "--no-log-ops"' })
  .option('quick', { type: 'boolean', default: false, describe: 'a tiny run (1 round, 0.5 s, 300 keys) that shows the script works; its figures mean nothing' })
  .strict()
  .parse();

const quick = argv.quick;
const cfg = {
  durationMs: (quick ? 0.5 : argv.duration) * 1000,
  ops: quick ? 2_000 : argv.ops,
  warmupMs: (quick ? 0.2 : argv.warmup) * 1000,
  rounds: quick ? 1 : argv.rounds,
  clients: argv.clients,
  getRatio: argv['get-ratio'],
  keyspace: quick ? 300 : argv.keyspace,
};
/** Bounds of the unmeasured write of every key before the rounds. */
const PREFILL_MAX_MS = 120_000;
/** Issue 15's target for gateway/direct. */
const TARGET = 0.8;
const CORES = os.cpus().length;

ensureDebianPackages({ [ETCD.bin]: ETCD.pkg });

const keyNames = Array.from({ length: cfg.keyspace }, (_, i) => `key:${String(i).padStart(Math.max(1, argv['key-size'] - 4), '0')}`);
const directKeys = keyNames.map((k) => Buffer.from(`direct/${k}`, 'latin1'));
const value = 'v'.repeat(argv['value-size']);
const valueBuf = Buffer.from(value, 'latin1');
const pickKey = () => Math.floor(Math.random() * cfg.keyspace);

type PhaseName = 'direct' | 'one gateway' | 'two gateways';
const PHASES: readonly PhaseName[] = ['direct', 'one gateway', 'two gateways'];

interface PhaseRun {
  readonly load: ClosedLoopResult;
  readonly cpu: CpuShare;
}

let cluster: EtcdCluster | null = null;
let untrack: (() => void) | null = null;
const gateways: Array<Proc & { dir: string }> = [];
const conns: Redis[][] = [[], []];
let direct: Etcd3 | null = null;

try {
  const loadBefore = loadAverage();
  console.error('starting a 3-member etcd cluster …');
  cluster = await startEtcdCluster({ members: 3 });
  untrack = trackGroup(() => (cluster as EtcdCluster).stop());
  const etcd = cluster;
  console.error('starting two gateways …');
  const backendArgs = ['--backend', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')];
  gateways.push(...(await startGateways(2, backendArgs, argv['gateway-args'].split(' ').filter(Boolean))));
  const [gw1, gw2] = gateways as [Proc & { dir: string }, Proc & { dir: string }];
  const peerDir = path.dirname(etcd.members[0]?.dataDir ?? '');
  console.log(
    `# cleanup check: pids ${[...etcd.members.map((m) => m.pid), gw1.child.pid, gw2.child.pid].join(' ')}; ` +
      `dirs ${[peerDir, gw1.dir, gw2.dir].join(' ')}`,
  );

  // The client as the gateway configures it: no retries (errors are counted, not hidden).
  direct = new Etcd3({ hosts: [...etcd.endpoints], dialTimeout: 2000, faultHandling: { global: noop } });
  const dc = direct;
  for (const [g, gw] of gateways.entries()) {
    for (let i = 0; i < cfg.clients; i++) {
      const r = new Redis({ host: '127.0.0.1', port: gw.port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
      r.on('error', () => undefined); // a failed command says it
      await r.connect();
      (conns[g] as Redis[]).push(r);
    }
  }
  const [c1, c2] = conns as [Redis[], Redis[]];

  const directOp = async () => {
    const key = directKeys[pickKey()] as Buffer;
    if (Math.random() < cfg.getRatio) {
      const r = await dc.kv.range({ key });
      if (r.kvs.length !== 1) throw new Error(`etcd has no ${key.toString('latin1')}`);
    } else await dc.kv.put({ key, value: valueBuf });
  };
  const respOp = async (conn: Redis) => {
    const key = keyNames[pickKey()] as string;
    if (Math.random() < cfg.getRatio) {
      if ((await conn.get(key)) === null) throw new Error(`the gateway has no ${key}`);
    } else await conn.set(key, value);
  };
  const ops: Record<PhaseName, (w: number) => Promise<unknown>> = {
    direct: () => directOp(),
    'one gateway': (w) => respOp(c1[w] as Redis),
    // Loop w on gateway w mod 2: the same connections in flight, half on each.
    'two gateways': (w) => respOp((w % 2 === 0 ? c1 : c2)[w] as Redis),
  };
  const groups = [
    ['etcd (3 members)', etcd.members.map((m) => m.pid as number)],
    ['gateway 1', [gw1.child.pid as number]],
    ['gateway 2', [gw2.child.pid as number]],
  ] as const;

  console.error(`writing ${cfg.keyspace} keys straight to etcd and ${cfg.keyspace} through the gateways …`);
  for (const [what, op] of [
    ['direct', (n: number) => dc.kv.put({ key: directKeys[n] as Buffer, value: valueBuf })],
    // Through both gateways in turn: it also JIT-warms the one the first rounds leave idle.
    ['gateway', (n: number) => ((n % 2 === 0 ? c1 : c2)[n % cfg.clients] as Redis).set(keyNames[n] as string, value)],
  ] as const) {
    const fill = await runClosedLoop({ workers: cfg.clients, maxOps: cfg.keyspace, maxMs: PREFILL_MAX_MS, op: (_, n) => op(n) });
    if (fill.ok !== cfg.keyspace) throw new Error(`writing the ${what} keyspace: ${fill.ok} of ${cfg.keyspace} written (${fill.firstError ?? 'out of time'})`);
  }

  console.log(
    `# etcd ${etcd.members.length} members and ${gateways.length} gateways on 127.0.0.1, ${CORES} cores shared by all; ` +
      `${cfg.clients} closed loops, ${fmt(cfg.getRatio * 100)}% GET / ${fmt((1 - cfg.getRatio) * 100)}% SET, ` +
      `${argv['key-size']}-byte keys out of ${cfg.keyspace}, ${argv['value-size']}-byte values; ` +
      `each run ${cfg.warmupMs / 1000} s warm-up, then at most ${cfg.durationMs / 1000} s or ${cfg.ops} requests; ` +
      `median of ${cfg.rounds} interleaved round(s)${argv['gateway-args'] ? `; gateways with ${argv['gateway-args']}` : ''}${quick ? '; --quick: the figures mean nothing' : ''}\n`,
  );

  const rounds: Array<Record<PhaseName, PhaseRun>> = [];
  for (let round = 0; round < cfg.rounds; round++) {
    console.error(`round ${round + 1}/${cfg.rounds} …`);
    const runs: Partial<Record<PhaseName, PhaseRun>> = {};
    for (const p of visitOrder(PHASES.length, round)) {
      const phase = PHASES[p] as PhaseName;
      const op = ops[phase];
      await runClosedLoop({ workers: cfg.clients, maxOps: Number.MAX_SAFE_INTEGER, maxMs: cfg.warmupMs, op });
      const stopMeter = startCpuMeter(groups);
      const load = await runClosedLoop({ workers: cfg.clients, maxOps: cfg.ops, maxMs: cfg.durationMs, op });
      runs[phase] = { load, cpu: stopMeter() };
    }
    rounds.push(runs as Record<PhaseName, PhaseRun>);
  }
  report(rounds, loadBefore);
} finally {
  for (const c of conns.flat()) c.disconnect();
  direct?.close();
  for (const g of gateways) await g.stop();
  await cluster?.stop();
  untrack?.();
}

function report(rounds: ReadonlyArray<Record<PhaseName, PhaseRun>>, loadBefore: number): void {
  const of = (phase: PhaseName, pick: (r: PhaseRun) => number) => median(rounds.map((r) => pick(r[phase])));
  /** The median of the rounds' ratios of `phase` to `base`, each taken in one round. */
  const ratio = (phase: PhaseName, base: PhaseName) => median(rounds.map((r) => r[phase].load.opsPerSec / r[base].load.opsPerSec));
  const perRound = (phase: PhaseName, base: PhaseName) => rounds.map((r) => fmt(r[phase].load.opsPerSec / r[base].load.opsPerSec, 2)).join(' ');
  const cpuOf = (phase: PhaseName, name: string) => of(phase, (r) => r.cpu.byName.find(([n]) => n === name)?.[1] ?? NaN);
  /** CPU time a group spent per answered operation, in µs. */
  const cpuPerOpUs = (phase: PhaseName, names: readonly string[]) =>
    of(phase, (r) => (names.reduce((s, n) => s + (r.cpu.byName.find(([m]) => m === n)?.[1] ?? NaN), 0) / 100) * (1e6 / r.load.opsPerSec));

  const rows = PHASES.map((phase) => {
    const errors = rounds.reduce((s, r) => s + r[phase].load.errors, 0);
    return [
      phase === 'direct' ? 'etcd3 client straight at etcd' : phase === 'one gateway' ? 'ioredis through one gateway' : 'ioredis through two gateways',
      fmt(of(phase, (r) => r.load.opsPerSec)),
      phase === 'direct' ? '1.00' : fmt(ratio(phase, 'direct'), 2),
      fmt(of(phase, (r) => r.load.latencyUs.p50)),
      fmt(of(phase, (r) => r.load.latencyUs.p99)),
      fmt(of(phase, (r) => r.load.latencyUs.mean)),
      fmt(cpuPerOpUs(phase, ['etcd (3 members)'])),
      phase === 'direct' ? '' : fmt(cpuPerOpUs(phase, ['gateway 1', 'gateway 2'])),
      errors === 0 ? '0' : `${errors} (${rounds.map((r) => r[phase].load.firstError).find((e) => e !== null) ?? ''})`,
    ];
  });
  printTable(['load', 'ops/s', 'x direct', 'p50 µs', 'p99 µs', 'mean µs', 'etcd CPU µs/op', 'gateway CPU µs/op', 'errors'], rows);

  const gw = ratio('one gateway', 'direct');
  const two = ratio('two gateways', 'one gateway');
  const meanOverhead = of('one gateway', (r) => r.load.latencyUs.mean) - of('direct', (r) => r.load.latencyUs.mean);
  const p50Overhead = of('one gateway', (r) => r.load.latencyUs.p50) - of('direct', (r) => r.load.latencyUs.p50);
  console.log(`\nratio gateway/direct: ${fmt(gw, 2)}x (target >= ${fmt(TARGET, 1)}x: ${gw >= TARGET ? 'met' : 'not met'}); per round: ${perRound('one gateway', 'direct')}`);
  console.log(
    `per-operation overhead of one gateway: ${fmt(meanOverhead)} µs mean latency (p50 ${fmt(p50Overhead)} µs) over the direct client at ${cfg.clients} in flight; ` +
      `the gateway process spends ${fmt(cpuPerOpUs('one gateway', ['gateway 1']))} µs of CPU per operation`,
  );
  console.log(`ratio two gateways/one gateway: ${fmt(two, 2)}x; per round: ${perRound('two gateways', 'one gateway')}`);

  console.log('\nCPU, in % of one core (median of the rounds):');
  for (const phase of PHASES) {
    const last = rounds[rounds.length - 1]?.[phase].cpu;
    if (last === undefined) continue;
    const med: CpuShare = {
      byName: last.byName.map(([name]) => [name, cpuOf(phase, name)] as const),
      others: of(phase, (r) => r.cpu.others),
      machine: of(phase, (r) => r.cpu.machine),
    };
    console.log(`  ${phase}: ${describeCpuShare(med, CORES)}`);
  }
  console.log(
    `\nWhat ${CORES} cores can show: the three etcd members, the gateways and this load generator all run on the same ` +
      `${CORES} cores, so a second gateway adds no CPU to the system, and every µs a gateway spends is taken from etcd and the load. ` +
      'Two gateways vs one shows only that splitting the load over gateways costs little, or, when one gateway is near 100% of a core, ' +
      'that it was the bottleneck. That throughput grows with gateways on their own machines, this run cannot show. ' +
      '"other processes" is CPU that work outside this benchmark took during the run: when it is large, the figures are noisy.',
  );
  console.log(`Load average (1 min): ${fmt(loadBefore, 2)} before, ${fmt(loadAverage(), 2)} after.`);
}
