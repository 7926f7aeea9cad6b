/**
 * Issue 13's HTTP benchmark: GET and PUT of /v1/kv/key:N with keep-alive over 50
 * connections, against kv-server (--http-port 0, default flags otherwise), webdis
 * in front of redis-server (GET /GET/key:N, PUT /SET/key:N with the value as the
 * body) and a bare node:http server answering from a Map. Prints requests/s, p50
 * and p99 per server and test, each server's CPU, the ratios ours/webdis and
 * ours/bare, and the issue's targets (>= 1.0x webdis, >= 0.8x bare node:http).
 *
 *   npm run bench:http -- [--seconds 5] [--warmup 1] [--rounds 3] [--connections 50]
 *                         [--keys 10000] [--value-size 16] [--webdis-threads 2]
 *
 * All servers of a round run at once, each test visits them in turn (each starts a
 * round in turn), and a ratio is the median of the rounds' ratios. autocannon runs in
 * this process: on a 2-core machine it takes one core, and the servers share the other.
 */
import os from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { keyOf, preloadKeys, runLoad } from './lib/http-load.js';
import { busyPercentOfCore, machineTicks } from './lib/machine-busy.js';
import { httpServers, type HttpTarget } from './lib/http-servers.js';
import type { LoadSummary } from './lib/load-summary.js';
import { cpuTimes, ensureDebianPackages, fmt, loadAverage, printTable, processCpuMs, stealPercent } from './lib/procs.js';
import { median, runRounds, visitOrder } from './lib/rounds.js';

const argv = await yargs(hideBin(process.argv))
  .option('seconds', { type: 'number', default: 5, describe: 'length of each measured autocannon run' })
  .option('warmup', { type: 'number', default: 1, describe: 'seconds of the same load, not measured, before each run' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('connections', { type: 'number', default: 50, describe: 'keep-alive connections (autocannon -c), one request in flight each' })
  .option('keys', { type: 'number', default: 10_000, describe: 'keys preloaded, and cycled through by GET and PUT' })
  .option('value-size', { type: 'number', default: 16, describe: 'bytes of each value (the PUT body)' })
  .option('webdis-threads', { type: 'number', default: 2, describe: "webdis's threads (2 cores here)" })
  .strict()
  .parse();

for (const [name, v] of Object.entries({ seconds: argv.seconds, rounds: argv.rounds, connections: argv.connections, keys: argv.keys, 'value-size': argv['value-size'] })) {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a whole number above 0, not ${v}`);
}
ensureDebianPackages({ 'redis-server': 'redis-server', webdis: 'webdis' });

const all = httpServers(argv['webdis-threads']);
const servers = [all.kv, all.webdis, all.bare];
const [KV, WEBDIS, BARE] = [0, 1, 2] as const;
const tests = ['GET', 'PUT'] as const;
const value = 'v'.repeat(argv['value-size']);

/** One server's run of one test: its figures or error, its processes' CPU share, and steal. */
interface Cell {
  load: LoadSummary;
  cpu: Record<string, number>;
  clientCpu: number;
  /** The machine's CPU less the server's and autocannon's: other work on a shared machine, in % of a core. */
  othersCpu: number;
  steal: number | null;
}
/** cells[test][server] of one round. */
type Round = Cell[][];

async function measure(target: HttpTarget, method: 'GET' | 'PUT'): Promise<Cell> {
  const load = { method, keys: argv.keys, value, connections: argv.connections };
  if (argv.warmup > 0) await runLoad(target, { ...load, seconds: argv.warmup });
  const before = cpuTimes();
  const ticksBefore = machineTicks();
  const cpuBefore = Object.fromEntries(Object.entries(target.pids).map(([name, pid]) => [name, processCpuMs(pid)]));
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const result = await runLoad(target, { ...load, seconds: argv.seconds });
  const wallMs = performance.now() - started;
  const client = process.cpuUsage(clientBefore);
  const busy = busyPercentOfCore(ticksBefore, machineTicks());
  const cpu = Object.fromEntries(Object.entries(target.pids).map(([name, pid]) => [name, (100 * (processCpuMs(pid) - (cpuBefore[name] ?? NaN))) / wallMs]));
  const clientCpu = (100 * (client.user + client.system)) / 1000 / wallMs;
  const othersCpu = busy - clientCpu - Object.values(cpu).reduce((a, b) => a + b, 0);
  return { load: result, cpu, clientCpu, othersCpu, steal: stealPercent(before, cpuTimes()) };
}

async function measureRound(round: number): Promise<Round> {
  const targets: HttpTarget[] = [];
  try {
    for (const s of servers) targets.push(await s.start());
    for (const t of targets) await preloadKeys(t, argv.keys, value, argv.connections);
    const cells: Round = tests.map(() => []);
    for (const [m, method] of tests.entries()) {
      for (const i of visitOrder(servers.length, round)) (cells[m] as Cell[])[i] = await measure(targets[i] as HttpTarget, method);
    }
    return cells;
  } finally {
    // One at a time: kv-server writes a final snapshot on the way down.
    for (const t of targets) await t.stop();
  }
}

console.log(
  `# HTTP GET and PUT of ${keyOf(0)}…${keyOf(argv.keys - 1)} (preloaded, ${argv['value-size']}-byte values): autocannon, ` +
    `${argv.connections} keep-alive connections, 1 request in flight each, ${argv.seconds} s a run after ${argv.warmup} s of warm-up; ` +
    `median of ${argv.rounds} interleaved rounds`,
);
console.log(
  `# ${os.cpus().length} cores: autocannon runs in this process and takes about one of them, so the servers share what is left; ` +
    "autocannon's latencies are whole milliseconds.\n",
);
for (const [i, s] of servers.entries()) {
  const paths = i === WEBDIS ? 'GET /GET/key:N, PUT /SET/key:N (body: the value)' : 'GET /v1/kv/key:N, PUT /v1/kv/key:N (body: the value)';
  console.log(`  ${s.name}: ${paths}`);
}
console.log('');

const { rounds, totalSteal, loadBefore } = await runRounds(argv.rounds, measureRound);

const cellOf = (r: Round, t: number, i: number) => (r[t] as Cell[])[i] as Cell;
const ok = (c: Cell) => ('rps' in c.load ? c.load : null);
const med = (t: number, i: number, f: (c: Cell) => number) => median(rounds.map((r) => f(cellOf(r, t, i))));
const rpsOf = (c: Cell) => ok(c)?.rps ?? NaN;
/** The median over the rounds of kv-server's requests/s over server j's in the same round. */
const ratioOf = (t: number, j: number) => median(rounds.map((r) => rpsOf(cellOf(r, t, KV)) / rpsOf(cellOf(r, t, j))));
const errorsOf = (t: number, i: number) => rounds.flatMap((r) => {
  const l = cellOf(r, t, i).load;
  return 'error' in l ? [l.error] : [];
});
const ratioText = (x: number) => (Number.isNaN(x) ? '-' : `${fmt(x, 2)}x`);
const pct = (x: number) => (Number.isFinite(x) ? `${fmt(x, 0)}%` : '?');

console.log("Requests/s, p50 and p99 (ms) and CPU are medians over the rounds; x is the median of the rounds' ratios kv-server / that server.\n");
const rows: string[][] = [];
for (const [t, test] of tests.entries()) {
  for (const [i, s] of servers.entries()) {
    const errors = errorsOf(t, i);
    const steals = rounds.map((r) => cellOf(r, t, i).steal).filter((x): x is number => x !== null);
    const pids = Object.keys(cellOf(rounds[0] as Round, t, i).cpu);
    rows.push([
      `${test} ${s.name}`,
      errors.length === rounds.length ? `failed` : `${fmt(med(t, i, rpsOf))}${errors.length > 0 ? ` (failed ${errors.length}/${rounds.length})` : ''}`,
      fmt(med(t, i, (c) => ok(c)?.p50Ms ?? NaN), 0),
      fmt(med(t, i, (c) => ok(c)?.p99Ms ?? NaN), 0),
      pids.map((p) => `${p} ${pct(med(t, i, (c) => c.cpu[p] ?? NaN))}`).join(', '),
      pct(med(t, i, (c) => c.clientCpu)),
      pct(Math.max(...rounds.map((r) => cellOf(r, t, i).othersCpu).filter((x) => !Number.isNaN(x)))),
      i === KV ? '' : ratioText(ratioOf(t, i)),
      steals.length > 0 ? `${fmt(Math.max(...steals), 1)}%` : '?',
    ]);
  }
}
printTable(['test / server', 'req/s', 'p50', 'p99', 'server CPU', 'autocannon CPU', 'others max', 'x kv/it', 'steal max'], rows);

console.log('\nkv-server / that server, per round:');
for (const [t, test] of tests.entries()) {
  for (const j of [WEBDIS, BARE]) {
    console.log(`  ${test} vs ${(servers[j] as { name: string }).name}: ${rounds.map((r) => ratioText(rpsOf(cellOf(r, t, KV)) / rpsOf(cellOf(r, t, j)))).join(' ')}`);
  }
}

const failures = tests.flatMap((test, t) => servers.flatMap((s, i) => [...new Set(errorsOf(t, i))].map((e) => `  ${test} ${s.name}: ${e}`)));
if (failures.length > 0) console.log(`\nFAILED RUNS (not counted in the figures):\n${failures.join('\n')}`);

// Issue 13: kv-server >= 1.0x webdis and >= 0.8x a bare node:http server, for GET and PUT.
console.log('\nTargets (issue 13):');
for (const [t, test] of tests.entries()) {
  for (const [j, min] of [[WEBDIS, 1.0], [BARE, 0.8]] as const) {
    const r = ratioOf(t, j);
    const verdict = Number.isNaN(r) ? 'no figure (a run failed)' : `${fmt(r, 2)}x, ${r >= min ? 'met' : 'not met'}`;
    console.log(`  ${test} kv-server >= ${fmt(min, 1)}x ${(servers[j] as { name: string }).name}: ${verdict}`);
  }
}
const othersMax = Math.max(...rounds.flatMap((r) => r.flat().map((c) => c.othersCpu)).filter((x) => !Number.isNaN(x)));
console.log(
  `\nOther work on the machine (its CPU less the server's and autocannon's), the most in any run: ${pct(othersMax)} of a core` +
    (othersMax > 20 ? ': the machine was shared, and the ratios are less sure than they look.' : '.'),
);
console.log(
  `Steal over the whole run: ${totalSteal === null ? 'unknown' : `${fmt(totalSteal, 1)}%`}; ` +
    `load average (1 min) ${fmt(loadBefore, 2)} before, ${fmt(loadAverage(), 2)} after.`,
);
if (failures.length > 0) process.exitCode = 1;
