/**
 * Issue 14's TLS benchmark: SET and GET over TLS (`redis-benchmark --tls`) against
 * kv-server's --tls-port and redis-server 7.0's tls-port (AOF everysec, as in
 * bench/tcp-vs-redis.ts), in the same run. Both serve the same certificate, made by
 * a throw-away CA (bench/lib/test-ca.ts); no client certificates. Prints requests/s,
 * the ratio ours/Redis, and the target (>= 0.5x).
 *
 *   npm run bench:tls -- [--requests 100000] [--clients 50] [--rounds 3] [--pipeline 0]
 *
 * Rounds are interleaved as in the other comparisons (bench/lib/rounds.ts): every server
 * runs at once and each test visits them in turn, the first one rotating.
 */
import { rmSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { track } from './lib/cleanup.js';
import { ensureDebianPackages, fmt, printTable, startKvServer, startRedis, tempDir, type Proc, type TlsFiles } from './lib/procs.js';
import { median, runRounds, visitOrder } from './lib/rounds.js';
import { runRedisBenchmark } from './lib/run-redis-benchmark.js';
import { makeTestCa } from './lib/test-ca.js';

const argv = await yargs(hideBin(process.argv))
  .option('requests', { type: 'number', default: 100_000, describe: 'requests per test (redis-benchmark -n)' })
  .option('clients', { type: 'number', default: 50, describe: 'redis-benchmark -c (its default)' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('pipeline', { type: 'number', default: 0, describe: 'also run with -P N (0: only unpipelined)' })
  .option('timeout', { type: 'number', default: 300, describe: 'seconds one redis-benchmark run may take' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-benchmark': 'redis-tools', openssl: 'openssl' });

const certDir = tempDir('dualkv-bench-tls-');
process.once('exit', () => rmSync(certDir, { recursive: true, force: true }));
const ca = await makeTestCa(certDir);
const files: TlsFiles = { ...(await ca.issue('server', 'server')), ca: ca.cert };

const servers: Array<{ name: string; start: () => Promise<Proc> }> = [
  { name: 'redis-server tls-port (AOF everysec)', start: () => startRedis([['appendonly', 'yes'], ['appendfsync', 'everysec']], undefined, files) },
  { name: 'kv-server --tls-port (default)', start: () => startKvServer([], undefined, { tls: files }) },
  { name: 'kv-server --tls-port --no-log-ops', start: () => startKvServer(['--no-log-ops'], undefined, { tls: files }) },
];
const TESTS = ['SET', 'GET'] as const;
const modes = [{ label: 'plain', args: [] as string[] }, ...(argv.pipeline > 0 ? [{ label: `-P ${argv.pipeline}`, args: ['-P', String(argv.pipeline)] }] : [])];
const common = ['--tls', '--cacert', files.ca, '-c', String(argv.clients), '-r', '100000', '-n', String(argv.requests), '-t', 'set,get'];

/** rps[mode][test][server] in one round; NaN where a run failed (its error is printed). */
type Round = number[][][];

async function measureRound(round: number): Promise<Round> {
  const procs: Proc[] = [];
  const rps: Round = modes.map(() => TESTS.map(() => servers.map(() => NaN)));
  try {
    for (const s of servers) procs.push(track(await s.start()));
    for (const [m, mode] of modes.entries()) {
      for (const i of visitOrder(servers.length, round)) {
        const out = await runRedisBenchmark((procs[i] as Proc).port, [...common, ...mode.args], argv.timeout * 1000);
        if (!out.ok) console.error(`${servers[i]?.name} (${mode.label}): ${out.error}`);
        for (const [t, test] of TESTS.entries()) rps[m]![t]![i] = out.ok ? (out.rows.find((r) => r.test === test)?.rps ?? NaN) : NaN;
      }
    }
    return rps;
  } finally {
    for (const p of procs) await p.stop();
  }
}

console.log(`# TLS SET/GET: redis-benchmark --tls -c ${argv.clients} -r 100000 -n ${argv.requests} -t set,get; median of ${argv.rounds} interleaved rounds\n`);
const { rounds } = await runRounds(argv.rounds, measureRound);
const rpsOf = (m: number, t: number, i: number) => median(rounds.map((r) => r[m]![t]![i] ?? NaN));
/** The median over the rounds of server i's ratio to Redis (server 0) in the same round. */
const ratioOf = (m: number, t: number, i: number) => median(rounds.map((r) => (r[m]![t]![i] ?? NaN) / (r[m]![t]![0] ?? NaN)));

const rows = servers.flatMap((s, i) =>
  TESTS.map((test, t) => [`${s.name} ${test}`, ...modes.flatMap((_, m) => [fmt(rpsOf(m, t, i)), i === 0 ? '1.00' : fmt(ratioOf(m, t, i), 2)])]),
);
printTable(['server / test', ...modes.flatMap((mode) => [`${mode.label} req/s`, 'x Redis'])], rows);

console.log('\nTargets (issue 14, TLS SET/GET >= 0.5x Redis over TLS):');
for (const [i, s] of servers.entries()) {
  if (i === 0) continue;
  for (const [m, mode] of modes.entries()) {
    for (const [t, test] of TESTS.entries()) {
      const r = ratioOf(m, t, i);
      console.log(`  ${s.name} ${mode.label} ${test}: ${fmt(r, 2)}x (>= 0.50x: ${r >= 0.5 ? 'met' : 'not met'})`);
    }
  }
}
