/**
 * Issue 2's benchmark: kv-server's TCP front-end (RESP2) against redis-server
 * (AOF everysec) on the same machine, in the same run, with redis-benchmark
 * driving both. Prints requests/s and the ratio ours/Redis, then memory per key
 * for 1M keys (16-byte keys, 100-byte values).
 *
 *   npm run bench:tcp -- [--requests 200000] [--pipelined-requests 1000000] [--rounds 3] [--keys 1000000]
 *                        [--baseline /path/to/another/checkout]
 *
 * --baseline adds that checkout's built kv-server (its dist/src/main.js, default flags) to
 * the same interleaved rounds: a change measured against what it changes, on the same
 * machine at the same time.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import {
  ensureDebianPackages,
  fmt,
  peakRssBytes,
  printTable,
  redisBenchmark,
  rssBytes,
  startKvServer,
  startRedis,
  tempDir,
  type Proc,
} from './lib/procs.js';

const argv = await yargs(hideBin(process.argv))
  .option('requests', { type: 'number', default: 200_000, describe: 'requests per plain redis-benchmark run' })
  .option('pipelined-requests', { type: 'number', default: 1_000_000, describe: 'requests per -P 16 run' })
  .option('clients', { type: 'number', default: 50 })
  .option('keys', { type: 'number', default: 1_000_000, describe: 'keys for the memory measurement (0 skips it)' })
  .option('rounds', { type: 'number', default: 3, describe: 'rounds per server, interleaved; the median is shown' })
  .option('skip-throughput', { type: 'boolean', default: false })
  .option('baseline', { type: 'string', describe: 'another checkout whose built kv-server runs in the same rounds' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-benchmark': 'redis-tools', 'redis-cli': 'redis-tools' });

const REDIS_AOF = [
  ['appendonly', 'yes'],
  ['appendfsync', 'everysec'],
];

interface Row {
  name: string;
  plain: Record<string, number>;
  pipelined: Record<string, number>;
  /** The server's peak RSS (VmHWM) over the round, in bytes. */
  peakRss: number;
}

/** One round of redis-benchmark against a fresh server: plain, then -P 16. */
async function measureOnce(start: () => Promise<Proc>): Promise<Omit<Row, 'name'>> {
  const proc = await start();
  try {
    const common = ['-c', String(argv.clients), '-t', 'set,get', '-r', '100000'];
    const plain = redisBenchmark(proc.port, [...common, '-n', String(argv.requests)]);
    const pipelined = redisBenchmark(proc.port, [...common, '-n', String(argv['pipelined-requests']), '-P', '16']);
    return { plain, pipelined, peakRss: peakRssBytes(proc.child.pid as number) };
  } finally {
    await proc.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/**
 * Runs every server `rounds` times, interleaved (A B C A B C …) so that a slow
 * patch of the machine hits all of them alike, and keeps the median of each figure.
 */
async function measureAll(servers: Array<[string, () => Promise<Proc>]>): Promise<Row[]> {
  const results = servers.map(() => [] as Array<Omit<Row, 'name'>>);
  for (let round = 0; round < argv.rounds; round++) {
    for (const [i, [, start]] of servers.entries()) results[i]?.push(await measureOnce(start));
  }
  return servers.map(([name], i) => {
    const runs = results[i] ?? [];
    const pick = (kind: 'plain' | 'pipelined') =>
      Object.fromEntries(['SET', 'GET'].map((t) => [t, median(runs.map((r) => r[kind][t] ?? NaN))]));
    return { name, plain: pick('plain'), pipelined: pick('pipelined'), peakRss: Math.max(...runs.map((r) => r.peakRss)) };
  });
}

if (!argv['skip-throughput']) {
  console.log(`# Throughput: redis-benchmark -c ${argv.clients} -t set,get (plain: -n ${argv.requests}; pipelined: -P 16 -n ${argv['pipelined-requests']}); median of ${argv.rounds} interleaved rounds\n`);
  const servers: Array<[string, () => Promise<Proc>]> = [
    ['redis-server (AOF everysec)', () => startRedis(REDIS_AOF)],
    ['kv-server (default: every op logged)', () => startKvServer()],
    ['kv-server --no-log-ops', () => startKvServer(['--no-log-ops'])],
    ['kv-server, stdout a pipe nobody reads', () => startKvServer([], undefined, { stdout: 'pipe' })],
  ];
  const baseline = argv.baseline;
  if (baseline !== undefined) {
    const bin = path.resolve(baseline, 'dist/src/main.js');
    servers.push([`baseline ${path.basename(path.resolve(baseline))} (default)`, () => startKvServer([], undefined, { bin })]);
    servers.push([`baseline ${path.basename(path.resolve(baseline))} --no-log-ops`, () => startKvServer(['--no-log-ops'], undefined, { bin })]);
  }
  const results = await measureAll(servers);
  const redis = results[0] as Row;
  const rows: string[][] = [];
  for (const r of results) {
    for (const t of ['SET', 'GET']) {
      const p = r.plain[t] ?? NaN;
      const pp = r.pipelined[t] ?? NaN;
      rows.push([
        `${r.name} ${t}`,
        fmt(p),
        r === redis ? '1.00' : fmt(p / (redis.plain[t] ?? NaN), 2),
        fmt(pp),
        r === redis ? '1.00' : fmt(pp / (redis.pipelined[t] ?? NaN), 2),
        t === 'SET' ? fmt(r.peakRss / 2 ** 20, 0) : '',
      ]);
    }
  }
  printTable(['server / test', 'plain req/s', 'x Redis', '-P 16 req/s', 'x Redis', 'peak RSS MiB'], rows);
  console.log('\nTargets: default >= 0.50x Redis plain; --no-log-ops >= 0.60x plain and >= 0.45x pipelined; peak RSS (the most over all rounds) < 200 MiB.\n');
}

/** Writes `keys` RESP SET commands (16-byte keys, 100-byte values) for redis-cli --pipe. */
async function writeLoadFile(file: string, keys: number): Promise<void> {
  const out = createWriteStream(file);
  const value = 'v'.repeat(90);
  let batch = '';
  for (let i = 0; i < keys; i++) {
    const key = `key:${String(i).padStart(12, '0')}`; // 16 bytes
    const v = value + String(i).padStart(10, '0'); // 100 bytes
    batch += `*3\r\n$3\r\nSET\r\n$16\r\n${key}\r\n$100\r\n${v}\r\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

function info(port: number, field: string): number {
  const text = execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'info'], { encoding: 'utf8' });
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

function load(port: number, file: string): void {
  execFileSync('sh', ['-c', `redis-cli -h 127.0.0.1 -p ${port} --pipe < ${file}`], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function dbsize(port: number): number {
  return Number(execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'dbsize'], { encoding: 'utf8' }).trim());
}

if (argv.keys > 0) {
  const keys = argv.keys;
  const dir = tempDir('dualkv-bench-mem-');
  const file = path.join(dir, 'load.resp');
  await writeLoadFile(file, keys);
  console.log(`# Memory per key: ${fmt(keys)} keys, 16-byte keys, 100-byte values, loaded with redis-cli --pipe\n`);

  const redis = await startRedis([['appendonly', 'no']]);
  const rUsed0 = info(redis.port, 'used_memory');
  const rRss0 = rssBytes(redis.child.pid as number);
  load(redis.port, file);
  const rKeys = dbsize(redis.port);
  const rUsed = (info(redis.port, 'used_memory') - rUsed0) / rKeys;
  const rRss = (rssBytes(redis.child.pid as number) - rRss0) / rKeys;
  await redis.stop();

  const kv = await startKvServer(['--no-log-ops', '--no-persistence']);
  const kRss0 = rssBytes(kv.child.pid as number);
  const kUsed0 = info(kv.port, 'used_memory');
  load(kv.port, file);
  const kKeys = dbsize(kv.port);
  // Let V8 finish the collections that the load set off, so the figure is the store, not garbage.
  await new Promise((r) => setTimeout(r, 3000));
  const kRss = (rssBytes(kv.child.pid as number) - kRss0) / kKeys;
  const kUsed = (info(kv.port, 'used_memory') - kUsed0) / kKeys;
  await kv.stop();

  printTable(
    ['server', 'keys', 'used_memory/key', 'RSS/key'],
    [
      ['redis-server', fmt(rKeys), fmt(rUsed, 1), fmt(rRss, 1)],
      ['kv-server', fmt(kKeys), fmt(kUsed, 1), fmt(kRss, 1)],
    ],
  );
  console.log(`\nours/Redis: used_memory ${fmt(kUsed / rUsed, 2)}x, RSS ${fmt(kRss / rRss, 2)}x, our RSS vs Redis used_memory ${fmt(kRss / rUsed, 2)}x (target <= 1.50x)`);
}
