/**
 * Issue 15's Redis Cluster gateway benchmark: a 3-master Redis Cluster (redis-server 7.0)
 * on loopback, loaded by redis-benchmark (a) straight at the cluster (`--cluster`), (b)
 * through one dualkv gateway (kv-server --backend redis-cluster, a real process from
 * dist/), plain redis-benchmark at its RESP port, since the gateway routes, and (c)
 * through two gateways at once, the clients split over them. Prints requests/s, p50/p99,
 * gateway/direct (target >= 0.5x), and where the CPU went.
 *
 *   npm run bench:gateway-redis-cluster -- [--requests 50000] [--rounds 3] [--clients 50]
 *                                          [--replicas 0] [--gateway-args "--no-log-ops"]
 *   npm run bench:gateway-redis-cluster -- --quick    # a few seconds: that it runs, not figures
 *
 * Every run is `-t set,get -c 50 -n N -d 100 -r 100000`; each redis-benchmark is killed
 * after --timeout, so a run is bounded in count and in time. A gateway's SET is a script
 * on the key's master (src/backend/redis-cluster/scripts.ts: the value and its version),
 * its GET a script that reads both: that is part of what the ratio measures. Phases are
 * interleaved as in bench/tcp-vs-redis.ts; a ratio is the median of the rounds'.
 */
import os from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { trackGroup } from './lib/cleanup.js';
import { describeCpuShare, startCpuMeter, type CpuShare } from './lib/cpu-meter.js';
import { startGateways } from './lib/gateways.js';
import { ensureDebianPackages, fmt, loadAverage, printTable, type Proc } from './lib/procs.js';
import { startRedisCluster, type RedisCluster } from './lib/redis-cluster.js';
import type { BenchmarkRow } from './lib/redis-benchmark-tests.js';
import { median, visitOrder } from './lib/rounds.js';
import { runRedisBenchmark } from './lib/run-redis-benchmark.js';

const argv = await yargs(hideBin(process.argv))
  .option('requests', { type: 'number', default: 50_000, describe: 'requests per test and run (redis-benchmark -n)' })
  .option('clients', { type: 'number', default: 50, describe: 'redis-benchmark -c (split over the gateways in the two-gateway run)' })
  .option('keyspace', { type: 'number', default: 100_000, describe: 'redis-benchmark -r' })
  .option('value-size', { type: 'number', default: 100, describe: 'redis-benchmark -d, bytes per value' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('replicas', { type: 'number', default: 0, describe: 'replicas per master (they add replication work on the same cores)' })
  .option('timeout', { type: 'number', default: 60, describe: 'seconds one redis-benchmark run may take before it is killed and counts as failed' })
  .option('gateway-args', { type: 'string', default: '', describe: 'more kv-server flags for every gateway, e.g. "--no-log-ops"' })
  .option('quick', { type: 'boolean', default: false, describe: 'a tiny run (1 round, 2000 requests) that shows the script works; its figures mean nothing' })
  .strict()
  .parse();

const quick = argv.quick;
const cfg = { requests: quick ? 2_000 : argv.requests, rounds: quick ? 1 : argv.rounds, clients: argv.clients };
/** Issue 15's target for gateway/direct, each test. */
const TARGET = 0.5;
const CORES = os.cpus().length;
const TESTS = ['SET', 'GET'] as const;
type Test = (typeof TESTS)[number];

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-cli': 'redis-tools', 'redis-benchmark': 'redis-tools' });

type PhaseName = 'direct' | 'one gateway' | 'two gateways';
const PHASES: readonly PhaseName[] = ['direct', 'one gateway', 'two gateways'];

/** One phase of one round: per test the requests/s (summed over concurrent runs) and latencies, or why not. */
type PhaseRun = { readonly ok: true; readonly tests: Record<Test, { rps: number; p50Ms: number; p99Ms: number }>; readonly cpu: CpuShare } | { readonly ok: false; readonly error: string };

let cluster: RedisCluster | null = null;
let untrack: (() => void) | null = null;
const gateways: Array<Proc & { dir: string }> = [];

/** Runs redis-benchmark at each port at once, with `clients` and the requests split evenly, and sums them. */
async function load(ports: readonly number[], extra: readonly string[], groups: ReadonlyArray<readonly [string, readonly number[]]>): Promise<PhaseRun> {
  const share = (n: number) => String(Math.max(1, Math.round(n / ports.length)));
  const args = [...extra, '-t', 'set,get', '-c', share(cfg.clients), '-n', share(cfg.requests), '-d', String(argv['value-size']), '-r', String(argv.keyspace)];
  const stopMeter = startCpuMeter(groups);
  const outs = await Promise.all(ports.map((port) => runRedisBenchmark(port, args, argv.timeout * 1000)));
  const cpu = stopMeter();
  const failed = outs.find((o) => !o.ok);
  if (failed !== undefined && !failed.ok) return { ok: false, error: failed.error };
  const tests = {} as Record<Test, { rps: number; p50Ms: number; p99Ms: number }>;
  for (const t of TESTS) {
    const rows = outs.map((o) => (o.ok ? o.rows.find((r) => r.test === t) : undefined));
    if (rows.some((r) => r === undefined)) return { ok: false, error: `no ${t} row in redis-benchmark's output` };
    const got = rows as BenchmarkRow[];
    tests[t] = {
      rps: got.reduce((s, r) => s + r.rps, 0),
      p50Ms: got.reduce((s, r) => s + r.p50Ms, 0) / got.length,
      p99Ms: Math.max(...got.map((r) => r.p99Ms)),
    };
  }
  return { ok: true, tests, cpu };
}

try {
  const loadBefore = loadAverage();
  console.error(`starting a Redis Cluster of 3 masters${argv.replicas > 0 ? ` with ${argv.replicas} replica(s) each` : ''} …`);
  cluster = await startRedisCluster({ masters: 3, replicas: argv.replicas });
  untrack = trackGroup(() => (cluster as RedisCluster).stop());
  const rc = cluster;
  console.error('starting two gateways …');
  gateways.push(...(await startGateways(2, ['--backend', 'redis-cluster', '--redis-cluster-nodes', rc.seeds.join(',')], argv['gateway-args'].split(' ').filter(Boolean))));
  const [gw1, gw2] = gateways as [Proc & { dir: string }, Proc & { dir: string }];
  const peerDir = rc.nodes[0]?.dir.replace(/\/[^/]+$/, '') ?? '';
  console.log(`# cleanup check: pids ${[...rc.nodes.map((n) => n.pid), gw1.child.pid, gw2.child.pid].join(' ')}; dirs ${[peerDir, gw1.dir, gw2.dir].join(' ')}`);
  const seed = rc.nodes[0]?.port as number;
  const groups = [
    [`redis-server (${rc.nodes.length} nodes)`, rc.nodes.map((n) => n.pid as number)],
    ['gateway 1', [gw1.child.pid as number]],
    ['gateway 2', [gw2.child.pid as number]],
  ] as const;
  const run: Record<PhaseName, () => Promise<PhaseRun>> = {
    direct: () => load([seed], ['--cluster'], groups),
    'one gateway': () => load([gw1.port], [], groups),
    'two gateways': () => load([gw1.port, gw2.port], [], groups),
  };

  console.log(
    `# Redis Cluster ${rc.nodes.length} nodes (3 masters) and ${gateways.length} gateways on 127.0.0.1, ${CORES} cores shared by all; ` +
      `redis-benchmark -t set,get -c ${cfg.clients} -n ${cfg.requests} -d ${argv['value-size']} -r ${argv.keyspace} (direct: --cluster; two gateways: half each, at once); ` +
      `median of ${cfg.rounds} interleaved round(s)${argv['gateway-args'] ? `; gateways with ${argv['gateway-args']}` : ''}${quick ? '; --quick: the figures mean nothing' : ''}\n`,
  );
  // Unmeasured: JIT-warms both gateways and fills the keyspace for the GETs.
  await load([gw1.port, gw2.port], [], groups);

  const rounds: Array<Record<PhaseName, PhaseRun>> = [];
  for (let round = 0; round < cfg.rounds; round++) {
    console.error(`round ${round + 1}/${cfg.rounds} …`);
    const runs: Partial<Record<PhaseName, PhaseRun>> = {};
    for (const p of visitOrder(PHASES.length, round)) runs[PHASES[p] as PhaseName] = await run[PHASES[p] as PhaseName]();
    rounds.push(runs as Record<PhaseName, PhaseRun>);
  }
  report(rounds, loadBefore);
} finally {
  for (const g of gateways) await g.stop();
  await cluster?.stop();
  untrack?.();
}

function report(rounds: ReadonlyArray<Record<PhaseName, PhaseRun>>, loadBefore: number): void {
  const okRuns = (phase: PhaseName) => rounds.map((r) => r[phase]).filter((x): x is Extract<PhaseRun, { ok: true }> => x.ok);
  const of = (phase: PhaseName, pick: (r: Extract<PhaseRun, { ok: true }>) => number) => median(okRuns(phase).map(pick));
  const rpsIn = (r: PhaseRun, t: Test) => (r.ok ? r.tests[t].rps : NaN);
  const ratio = (phase: PhaseName, base: PhaseName, t: Test) => median(rounds.map((r) => rpsIn(r[phase], t) / rpsIn(r[base], t)));
  const perRound = (phase: PhaseName, base: PhaseName, t: Test) => rounds.map((r) => fmt(rpsIn(r[phase], t) / rpsIn(r[base], t), 2)).join(' ');
  /** Requests/s over a whole run (SET then GET, N each). */
  const overall = (r: Extract<PhaseRun, { ok: true }>) => 2 / (1 / r.tests.SET.rps + 1 / r.tests.GET.rps);
  const cpuPerOpUs = (phase: PhaseName, names: readonly string[]) =>
    of(phase, (r) => (names.reduce((s, n) => s + (r.cpu.byName.find(([m]) => m === n)?.[1] ?? NaN), 0) / 100) * (1e6 / overall(r)));
  const serverNames = (r: PhaseRun | undefined) => (r?.ok ? r.cpu.byName.map(([n]) => n).filter((n) => n.startsWith('redis-server')) : []);

  const rows: string[][] = [];
  for (const phase of PHASES) {
    const failures = rounds.flatMap((r) => (r[phase].ok ? [] : [(r[phase] as { error: string }).error]));
    for (const t of TESTS) {
      rows.push([
        `${phase === 'direct' ? 'redis-benchmark --cluster at the cluster' : `redis-benchmark at ${phase}`} ${t}`,
        fmt(of(phase, (r) => r.tests[t].rps)),
        phase === 'direct' ? '1.00' : fmt(ratio(phase, 'direct', t), 2),
        fmt(of(phase, (r) => r.tests[t].p50Ms), 3),
        fmt(of(phase, (r) => r.tests[t].p99Ms), 3),
        t === 'SET' ? fmt(cpuPerOpUs(phase, serverNames(rounds[0]?.[phase]))) : '',
        t === 'SET' && phase !== 'direct' ? fmt(cpuPerOpUs(phase, ['gateway 1', 'gateway 2'])) : '',
        t === 'SET' && failures.length > 0 ? `${failures.length}/${rounds.length} runs: ${failures[0]}` : '',
      ]);
    }
  }
  printTable(['load / test', 'req/s', 'x direct', 'p50 ms', 'p99 ms', 'redis CPU µs/op', 'gateway CPU µs/op', 'failed'], rows);

  const verdict = (x: number) => (Number.isNaN(x) ? 'no figure' : x >= TARGET ? 'met' : 'not met');
  for (const t of TESTS) {
    const r = ratio('one gateway', 'direct', t);
    console.log(`${t === 'SET' ? '\n' : ''}ratio gateway/direct ${t}: ${fmt(r, 2)}x (target >= ${fmt(TARGET, 1)}x: ${verdict(r)}); per round: ${perRound('one gateway', 'direct', t)}`);
  }
  for (const t of TESTS) console.log(`ratio two gateways/one gateway ${t}: ${fmt(ratio('two gateways', 'one gateway', t), 2)}x; per round: ${perRound('two gateways', 'one gateway', t)}`);
  const meanUs = (phase: PhaseName) => of(phase, (r) => (1e6 * cfg.clients) / overall(r));
  console.log(
    `per-operation overhead of one gateway: ${fmt(meanUs('one gateway') - meanUs('direct'))} µs of latency (Little's law: ${cfg.clients} in flight / req/s) over redis-benchmark --cluster; ` +
      `the gateway process spends ${fmt(cpuPerOpUs('one gateway', ['gateway 1']))} µs of CPU per operation`,
  );

  console.log('\nCPU, in % of one core (median of the rounds):');
  for (const phase of PHASES) {
    const last = okRuns(phase).at(-1);
    if (last === undefined) continue;
    const med: CpuShare = {
      byName: last.cpu.byName.map(([name]) => [name, of(phase, (r) => r.cpu.byName.find(([n]) => n === name)?.[1] ?? NaN)] as const),
      others: of(phase, (r) => r.cpu.others),
      machine: of(phase, (r) => r.cpu.machine),
    };
    console.log(`  ${phase}: ${describeCpuShare(med, CORES)}`);
  }
  console.log(
    `\nWhat ${CORES} cores can show: the Redis nodes, the gateways and redis-benchmark all run on the same ${CORES} cores, so a second ` +
      'gateway adds no CPU to the system, and every µs a gateway spends is taken from Redis and the load. Two gateways vs one shows only ' +
      'that splitting the clients over gateways costs little, or, when one gateway is near 100% of a core, that it was the bottleneck. ' +
      'That throughput grows with gateways on their own machines, this run cannot show. redis-benchmark shares the cores too ' +
      '(the "reaped children" figure). "other processes" is CPU that work outside this ' +
      'benchmark took during the run: when it is large, the figures are noisy.',
  );
  console.log(`Load average (1 min): ${fmt(loadBefore, 2)} before, ${fmt(loadAverage(), 2)} after.`);
}
