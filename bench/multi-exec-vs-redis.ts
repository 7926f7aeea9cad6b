/**
 * Issue 12's transaction benchmark: MULTI, 10 SETs, EXEC through ioredis
 * (`redis.multi().set(…)×10.exec()`), against kv-server (default flags, and
 * --no-log-ops) and redis-server (AOF everysec) in the same rounds. Prints
 * transactions/s, the p50 and p99 of a transaction, and the ratio ours/Redis,
 * with each connection keeping 1 and then 16 transactions in flight.
 *
 *   npm run bench:multi -- [--connections 8] [--inflight 1,16] [--transactions 20000]
 *                          [--max-seconds 15] [--rounds 3] [--servers redis,kv,kv-no-log-ops]
 *
 * Every EXEC must answer 10 OKs, a sample of transactions is read back with MGET
 * and DBSIZE must count every key written, or the run stops with what was wrong.
 * Rounds are interleaved as in bench/tcp-vs-redis.ts. The client runs in this
 * process, on the same cores: its CPU share is printed beside the figures.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { track } from './lib/cleanup.js';
import { chooseServers } from './lib/compared-servers.js';
import { runMultiLoad, type MultiLoadResult } from './lib/multi-exec-load.js';
import { cpuTimes, ensureDebianPackages, fmt, loadAverage, printTable, processCpuMs, stealPercent, type Proc } from './lib/procs.js';
import { RespQuery } from './lib/resp-query.js';
import { median, runRounds, visitOrder } from './lib/rounds.js';

const SETS = 10;

const argv = await yargs(hideBin(process.argv))
  .option('connections', { type: 'number', default: 8 })
  .option('inflight', { type: 'string', default: '1,16', describe: 'transactions each connection keeps in flight; one pass per value' })
  .option('transactions', { type: 'number', default: 20_000, describe: 'most transactions per pass and server' })
  .option('max-seconds', { type: 'number', default: 15, describe: 'most time per pass and server' })
  .option('warmup', { type: 'number', default: 1_000, describe: 'transactions sent to each server before a round is measured' })
  .option('sample', { type: 'number', default: 200, describe: 'transactions per pass read back with MGET' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('servers', { type: 'string', default: 'redis,kv,kv-no-log-ops', describe: 'which servers, Redis first' })
  .strict()
  .parse();

const servers = chooseServers(argv.servers);
const depths = argv.inflight.split(',').map(Number);
if (depths.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`--inflight: '${argv.inflight}' is not a list of whole numbers >= 1, e.g. 1,16`);

ensureDebianPackages({ 'redis-server': 'redis-server' });

interface Pass extends MultiLoadResult {
  /** The server's CPU time over the pass, in percent of one core. */
  serverCpuPercent: number;
  steal: number | null;
}

/** DBSIZE must be every key written so far: the sample read back sees few of them. */
async function checkKeyCount(port: number, expected: number, what: string): Promise<void> {
  const q = await RespQuery.open(port);
  try {
    const n = Number(await q.query('DBSIZE'));
    if (n !== expected) throw new Error(`${what}: DBSIZE is ${n}, but ${expected} keys were written`);
  } finally {
    q.close();
  }
}

async function measureRound(round: number): Promise<Pass[][]> {
  const procs: Proc[] = [];
  try {
    for (const s of servers) procs.push(track(await s.start()));
    const written = servers.map(() => 0);
    const load = async (i: number, prefix: string, inflight: number, transactions: number) => {
      const p = procs[i] as Proc;
      const out = await runMultiLoad({ port: p.port, connections: argv.connections, inflight, transactions, maxMs: argv['max-seconds'] * 1000, sets: SETS, prefix, sample: argv.sample });
      written[i] = (written[i] as number) + out.completed * SETS;
      await checkKeyCount(p.port, written[i] as number, `${servers[i]?.name} after ${prefix}`);
      return out;
    };
    for (const i of visitOrder(servers.length, round)) await load(i, 'warmup', 1, argv.warmup);

    const passes: Pass[][] = depths.map(() => []);
    for (const [d, inflight] of depths.entries()) {
      for (const i of visitOrder(servers.length, round)) {
        const pid = (procs[i] as Proc).child.pid as number;
        const steal0 = cpuTimes();
        const server0 = processCpuMs(pid);
        const out = await load(i, `r${round}d${inflight}`, inflight, argv.transactions);
        (passes[d] as Pass[])[i] = {
          ...out,
          serverCpuPercent: (100 * (processCpuMs(pid) - server0)) / out.elapsedMs,
          steal: stealPercent(steal0, cpuTimes()),
        };
      }
    }
    return passes;
  } finally {
    // One at a time: final snapshots at once on two cores can pass --shutdown-timeout.
    for (const p of procs) await p.stop();
  }
}

console.log(
  `# MULTI + ${SETS} SET + EXEC through ioredis: ${argv.connections} connections, each with ${depths.join(' / ')} in flight; ` +
    `at most ${argv.transactions} transactions or ${argv['max-seconds']} s per pass; median of ${argv.rounds} interleaved rounds\n`,
);
const { rounds, totalSteal, loadBefore } = await runRounds(argv.rounds, measureRound);

const passOf = (r: Pass[][], d: number, i: number) => (r[d] as Pass[])[i] as Pass;
const tps = (p: Pass) => (1000 * p.completed) / p.elapsedMs;
const over = (d: number, i: number, f: (p: Pass) => number) => median(rounds.map((r) => f(passOf(r, d, i))));
/** The median over the rounds of server i's transactions/s over Redis's (server 0) in the same round. */
const ratioOf = (d: number, i: number) => median(rounds.map((r) => tps(passOf(r, d, i)) / tps(passOf(r, d, 0))));

const rows: string[][] = [];
for (const [d, inflight] of depths.entries()) {
  for (const [i, s] of servers.entries()) {
    const steals = rounds.map((r) => passOf(r, d, i).steal).filter((x): x is number => x !== null);
    rows.push([
      `${s.name}, ${inflight} in flight`,
      fmt(over(d, i, tps)),
      i === 0 ? '1.00' : fmt(ratioOf(d, i), 2),
      fmt(over(d, i, (p) => p.latency.p50) / 1000, 2),
      fmt(over(d, i, (p) => p.latency.p99) / 1000, 2),
      fmt(over(d, i, (p) => p.serverCpuPercent)),
      fmt(over(d, i, (p) => p.clientCpuPercent)),
      steals.length > 0 ? `${fmt(Math.max(...steals), 1)}%` : '?',
    ]);
  }
}
printTable(['server', 'tx/s', 'x Redis', 'p50 ms', 'p99 ms', 'server CPU %', 'client CPU %', 'steal max'], rows);

console.log('\nx Redis per round:');
for (const [i, s] of servers.entries()) {
  if (i === 0) continue;
  const perDepth = depths.map((inflight, d) => `${inflight} in flight ${rounds.map((r) => fmt(tps(passOf(r, d, i)) / tps(passOf(r, d, 0)), 2)).join(' ')}`);
  console.log(`  ${s.name}: ${perDepth.join(' | ')}`);
}
const all = rounds.flat(2);
const passes = all.length;
console.log(
  `\nChecked: every EXEC answered ${SETS} OKs (${fmt(all.reduce((n, p) => n + p.completed, 0))} transactions in ${passes} passes), ` +
    `${argv.sample} transactions a pass read back with MGET, DBSIZE after each pass.`,
);
const cut = all.filter((p) => p.completed < argv.transactions).length;
if (cut > 0) console.log(`${cut} of ${passes} passes stopped at --max-seconds ${argv['max-seconds']} before --transactions ${argv.transactions}.`);
console.log(`Steal over the whole run: ${totalSteal === null ? 'unknown' : `${fmt(totalSteal, 1)}%`}; load average (1 min) ${fmt(loadBefore, 2)} before, ${fmt(loadAverage(), 2)} after.`);
console.log('Server and client CPU % are of one core; the client (ioredis) shares the two cores with the servers.');
