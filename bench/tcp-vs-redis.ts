/**
 * Issues 2 and 11's throughput benchmark: kv-server's TCP front-end (RESP2) against
 * redis-server (AOF everysec) on the same machine, in the same run, with
 * redis-benchmark driving both: SET and GET (`-t set,get`) and SET with a TTL
 * (`SET key:__rand_int__ xxx EX 100`, a custom command), each plain and with -P 16.
 * Prints requests/s and the ratio ours/Redis. Memory per key is bench/memory-per-key.ts.
 *
 *   npm run bench:tcp -- [--requests 200000] [--pipelined-requests 1000000] [--rounds 3]
 *                        [--baseline /path/to/another/checkout]
 *
 * Every server of a round runs at once and each test visits them in turn, the first
 * one rotating from round to round, so that a slow patch of a shared machine hits them
 * alike. A ratio is the median of the rounds' ratios (each compares runs seconds apart).
 *
 * --baseline adds that checkout's built kv-server (its dist/src/kv-server.js, default flags) to
 * the same interleaved rounds: a change measured against what it changes, on the same
 * machine at the same time.
 */
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import {
  cpuTimes,
  ensureDebianPackages,
  fmt,
  peakRssBytes,
  printTable,
  redisBenchmark,
  redisBenchmarkCommand,
  kvServerIn,
  startKvServer,
  startRedis,
  stealPercent,
  type Proc,
} from './lib/procs.js';
import { startKvWithHttp } from './lib/metrics-scraper.js';

const argv = await yargs(hideBin(process.argv))
  .option('requests', { type: 'number', default: 200_000, describe: 'requests per plain redis-benchmark run' })
  .option('pipelined-requests', { type: 'number', default: 1_000_000, describe: 'requests per -P 16 run' })
  .option('clients', { type: 'number', default: 50 })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds, interleaved; the median is shown' })
  .option('ttl', { type: 'number', default: 100, describe: 'seconds, the EX of the SET EX test' })
  .option('baseline', { type: 'string', describe: 'another checkout whose built kv-server runs in the same rounds' })
  .option('auth', { type: 'boolean', default: false, describe: 'every server requires a password (Redis: requirepass; kv-server: KV_REQUIREPASS) and redis-benchmark sends it (issue 14)' })
  .option('with-http', { type: 'boolean', default: false, describe: 'also a kv-server with its HTTP front-end on and /metrics scraped every second (issue 13)' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-benchmark': 'redis-tools', 'redis-cli': 'redis-tools' });

/** --auth: the password every server requires; kv-servers read it from the environment they inherit. */
const PASSWORD = 'bench-password-7c1d';
if (argv.auth) process.env.KV_REQUIREPASS = PASSWORD;
const REDIS_AOF = [
  ['appendonly', 'yes'],
  ['appendfsync', 'everysec'],
  ...(argv.auth ? [['requirepass', PASSWORD]] : []),
];
/** Test names as rows show them; SET and GET come from `-t set,get`, SET EX is a custom command. */
const TESTS = ['SET', 'SET EX', 'GET'] as const;
type Test = (typeof TESTS)[number];
type Mode = 'plain' | 'pipelined';
/** redis-benchmark -t set sends 3-byte values (-d 3) to key:__rand_int__; SET EX sends the same. */
const SET_EX = ['SET', 'key:__rand_int__', 'xxx', 'EX', String(argv.ttl)];

interface Server {
  readonly name: string;
  readonly start: () => Promise<Proc>;
}

/** One server's figures in one round. */
interface RoundResult {
  rps: Record<Mode, Record<Test, number>>;
  /** The server's peak RSS (VmHWM) over the round, in bytes. */
  peakRss: number;
  /** The most CPU time the hypervisor took during any of this server's runs in the round, in percent. */
  steal: number | null;
}

function stolenDuring<T>(run: () => T, note: (steal: number | null) => void): T {
  const before = cpuTimes();
  const out = run();
  note(stealPercent(before, cpuTimes()));
  return out;
}

/** One round: every server started, each test run against each in turn (from `first`), then all stopped. */
async function measureRound(servers: readonly Server[], first: number): Promise<RoundResult[]> {
  const procs: Proc[] = [];
  try {
    for (const s of servers) procs.push(await s.start());
    const results: RoundResult[] = servers.map(() => ({
      rps: { plain: { SET: NaN, 'SET EX': NaN, GET: NaN }, pipelined: { SET: NaN, 'SET EX': NaN, GET: NaN } },
      peakRss: NaN,
      steal: null,
    }));
    const order = servers.map((_, i) => (first + i) % servers.length);
    const common = ['-c', String(argv.clients), '-r', '100000', ...(argv.auth ? ['-a', PASSWORD] : [])];
    for (const mode of ['plain', 'pipelined'] as const) {
      const n = ['-n', String(mode === 'plain' ? argv.requests : argv['pipelined-requests']), ...(mode === 'pipelined' ? ['-P', '16'] : [])];
      for (const kind of ['set,get', 'set ex'] as const) {
        for (const i of order) {
          const r = results[i] as RoundResult;
          const port = (procs[i] as Proc).port;
          const note = (steal: number | null) => {
            if (steal !== null) r.steal = Math.max(r.steal ?? 0, steal);
          };
          if (kind === 'set,get') {
            const got = stolenDuring(() => redisBenchmark(port, [...common, ...n, '-t', 'set,get']), note);
            r.rps[mode].SET = got.SET ?? NaN;
            r.rps[mode].GET = got.GET ?? NaN;
          } else {
            r.rps[mode]['SET EX'] = stolenDuring(() => redisBenchmarkCommand(port, [...common, ...n], SET_EX), note);
          }
        }
      }
    }
    for (const [i, p] of procs.entries()) (results[i] as RoundResult).peakRss = peakRssBytes(p.child.pid as number);
    return results;
  } finally {
    // One at a time: three final snapshots at once on two cores can pass --shutdown-timeout.
    for (const p of procs) await p.stop();
  }
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const servers: Server[] = [
  { name: 'redis-server (AOF everysec)', start: () => startRedis(REDIS_AOF) },
  { name: 'kv-server (default: every op logged)', start: () => startKvServer() },
  { name: 'kv-server --no-log-ops', start: () => startKvServer(['--no-log-ops']) },
  { name: 'kv-server, stdout a pipe nobody reads', start: () => startKvServer([], undefined, { stdout: 'pipe' }) },
];
if (argv['with-http']) servers.push({ name: 'kv-server with HTTP, /metrics scraped 1/s', start: () => startKvWithHttp() });
if (argv.baseline !== undefined) {
  const bin = kvServerIn(path.resolve(argv.baseline));
  const label = `baseline ${path.basename(path.resolve(argv.baseline))}`;
  servers.push({ name: `${label} (default)`, start: () => startKvServer([], undefined, { bin }) });
  servers.push({ name: `${label} --no-log-ops`, start: () => startKvServer(['--no-log-ops'], undefined, { bin }) });
}

console.log(
  `${argv.auth ? '# Every server requires a password; redis-benchmark authenticates each connection (-a).\n' : ''}# Throughput: redis-benchmark -c ${argv.clients} -r 100000, -t set,get and ${SET_EX.join(' ')} ` +
    `(plain: -n ${argv.requests}; pipelined: -P 16 -n ${argv['pipelined-requests']}); median of ${argv.rounds} interleaved rounds\n`,
);
const rounds: RoundResult[][] = [];
for (let round = 0; round < argv.rounds; round++) {
  console.error(`round ${round + 1}/${argv.rounds} …`);
  rounds.push(await measureRound(servers, round % servers.length));
}

const rpsOf = (i: number, mode: Mode, t: Test) => median(rounds.map((r) => r[i]?.rps[mode][t] ?? NaN));
/** The median over the rounds of server i's ratio to Redis in the same round. */
const ratioOf = (i: number, mode: Mode, t: Test) => median(rounds.map((r) => (r[i]?.rps[mode][t] ?? NaN) / (r[0]?.rps[mode][t] ?? NaN)));
const perRound = (i: number, mode: Mode, t: Test) => rounds.map((r) => fmt((r[i]?.rps[mode][t] ?? NaN) / (r[0]?.rps[mode][t] ?? NaN), 2)).join(' ');

const rows: string[][] = [];
for (const [i, s] of servers.entries()) {
  const peak = Math.max(...rounds.map((r) => r[i]?.peakRss ?? NaN));
  const steals = rounds.map((r) => r[i]?.steal).filter((x): x is number => typeof x === 'number');
  for (const t of TESTS) {
    rows.push([
      `${s.name} ${t}`,
      fmt(rpsOf(i, 'plain', t)),
      i === 0 ? '1.00' : fmt(ratioOf(i, 'plain', t), 2),
      fmt(rpsOf(i, 'pipelined', t)),
      i === 0 ? '1.00' : fmt(ratioOf(i, 'pipelined', t), 2),
      t === 'SET' ? fmt(peak / 2 ** 20, 0) : '',
      t === 'SET' && steals.length > 0 ? `${fmt(Math.max(...steals), 1)}%` : '',
    ]);
  }
}
printTable(['server / test', 'plain req/s', 'x Redis', '-P 16 req/s', 'x Redis', 'peak RSS MiB', 'steal max'], rows);
console.log('\nx Redis: the median of the rounds\' ratios. Per round (plain; -P 16):');
for (const [i, s] of servers.entries()) {
  if (i === 0) continue;
  console.log(`  ${s.name}: ${TESTS.map((t) => `${t} ${perRound(i, 'plain', t)}; ${perRound(i, 'pipelined', t)}`).join(' | ')}`);
}

// Issue 11: default plain SET >= 0.5x; --no-log-ops plain >= 0.6x; -P 16 >= 0.45x for SET and GET; SET EX as plain SET.
const targets: Array<[number, Mode, Test, number]> = [
  [1, 'plain', 'SET', 0.5],
  [1, 'plain', 'SET EX', 0.5],
  [2, 'plain', 'SET', 0.6],
  [2, 'plain', 'SET EX', 0.6],
  [2, 'plain', 'GET', 0.6],
  ...([1, 2] as const).flatMap((i) => TESTS.map((t): [number, Mode, Test, number] => [i, 'pipelined', t, 0.45])),
];
console.log('\nTargets (issue 11):');
for (const [i, mode, t, min] of targets) {
  const r = ratioOf(i, mode, t);
  console.log(`  ${servers[i]?.name} ${mode === 'plain' ? 'plain' : '-P 16'} ${t}: ${fmt(r, 2)}x (>= ${fmt(min, 2)}x: ${r >= min ? 'met' : 'not met'})`);
}
console.log('Peak RSS is the most over all rounds (issue 10: < 200 MiB).');
