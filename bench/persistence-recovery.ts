/**
 * Issue 4's recovery benchmark: the time to start serving with 1M keys (16-byte keys,
 * 100-byte values) held in a snapshot plus a log of later overwrites, against
 * redis-server loading the same data the same way in the same run (AOF with its RDB
 * preamble as the base, after BGREWRITEAOF, plus the incremental AOF).
 *
 * Both servers are loaded, snapshotted, given the overwrites, then killed with SIGKILL
 * (so nothing is folded at shutdown) and started again; the time is from spawn to the
 * first PONG. Figures only: nothing here passes or fails.
 *
 *   npm run bench:persistence:recovery -- [--keys 1000000] [--log-keys 200000] [--value-size 100] [--runs 1]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureDebianPackages, fmt, freePort, KV_SERVER, printTable, tempDir } from './lib/procs.js';
import { infoNumber, pipeLoad, redisCli, waitForPong, writeLoadFile } from './persistence-common.js';

const argv = await yargs(hideBin(process.argv))
  .option('keys', { type: 'number', default: 1_000_000, describe: 'keys in the snapshot' })
  .option('log-keys', { type: 'number', default: 200_000, describe: 'keys overwritten after the snapshot (they are in the log)' })
  .option('value-size', { type: 'number', default: 100 })
  .option('runs', { type: 'number', default: 1, describe: 'restarts timed per server; the median is shown' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-cli': 'redis-tools' });

const work = tempDir('dualkv-bench-recovery-');
const base = path.join(work, 'base.resp');
const later = path.join(work, 'later.resp');
await writeLoadFile(base, 0, argv.keys, 0, argv['value-size']);
await writeLoadFile(later, 0, Math.min(argv['log-keys'], argv.keys), 1, argv['value-size']);

interface Server {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  spawn(): ChildProcess;
  /** Makes the snapshot / base file and waits for it. */
  snapshot(): Promise<void>;
  /** The server's own figure for loading its files, in ms, from its log, once it is serving. */
  loadMs(child: ChildProcess): Promise<number>;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const s = statSync(path.join(dir, name));
    if (s.isFile()) n += s.size;
  }
  return n;
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

async function timeRecovery(s: Server): Promise<{ ms: number[]; load: number[]; keys: number; bytes: number }> {
  let child = s.spawn();
  await waitForPong(s.port, performance.now());
  pipeLoad(s.port, base);
  await s.snapshot();
  pipeLoad(s.port, later);
  const keys = Number(redisCli(s.port, 'dbsize'));
  await killHard(child);
  const bytes = dirBytes(s.dir);
  const times: number[] = [];
  const load: number[] = [];
  for (let i = 0; i < argv.runs; i++) {
    const t0 = performance.now();
    child = s.spawn();
    times.push(await waitForPong(s.port, t0));
    load.push(await s.loadMs(child));
    const loaded = Number(redisCli(s.port, 'dbsize'));
    if (loaded !== keys) console.error(`${s.name}: ${loaded} keys after the restart, ${keys} before`);
    await killHard(child); // no shutdown snapshot: the next run loads the same files
  }
  return { ms: times.sort((a, b) => a - b), load: load.sort((a, b) => a - b), keys, bytes };
}

const redisPort = await freePort();
const redisDir = tempDir('dualkv-bench-recovery-redis-');
const redisLog = path.join(redisDir, 'redis.log');
const redis: Server = {
  name: 'redis-server',
  dir: redisDir,
  port: redisPort,
  spawn: () =>
    spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--logfile', redisLog],
      { stdio: 'ignore' },
    ),
  async loadMs() {
    // Redis 7: "DB loaded from append only file: 0.870 seconds" after the base and incr files.
    const all = [...readFileSync(redisLog, 'utf8').matchAll(/DB loaded from append only file: ([\d.]+) seconds/g)];
    return Number(all.at(-1)?.[1] ?? NaN) * 1000;
  },
  async snapshot() {
    redisCli(redisPort, 'bgrewriteaof');
    for (let i = 0; i < 6000; i++) {
      if (infoNumber(redisPort, 'aof_rewrite_in_progress') === 0 && infoNumber(redisPort, 'aof_rewrite_scheduled') === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis BGREWRITEAOF did not finish');
  },
};

const kvPort = await freePort();
const kvDir = tempDir('dualkv-bench-recovery-kv-');
const kvLoadMs = new WeakMap<ChildProcess, Promise<number>>();
const kv: Server = {
  name: 'kv-server',
  dir: path.join(kvDir, 'data'),
  port: kvPort,
  spawn: () => {
    const child = spawn(
      process.execPath,
      [KV_SERVER, '--port', String(kvPort), '--data-dir', path.join(kvDir, 'data'), '--log-dir', path.join(kvDir, 'logs'), '--no-log-ops', '--fsync', 'everysec', '--snapshot-interval', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    // The log line leaves through an asynchronous stream, so it may come just after the PONG.
    // As long as waitForPong waits: on a loaded machine loading alone can take more than 10 s.
    kvLoadMs.set(
      child,
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(NaN), 300_000);
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
          if (!line.includes('"msg":"data loaded"')) return;
          clearTimeout(timer);
          resolve(Number((JSON.parse(line) as { ms: number }).ms));
        });
      }),
    );
    return child;
  },
  loadMs: (child) => kvLoadMs.get(child) ?? Promise.resolve(NaN),
  async snapshot() {
    const reply = redisCli(kvPort, 'save');
    if (reply !== 'OK') throw new Error(`SAVE answered ${reply}`);
  },
};

console.log(
  `# Recovery: ${fmt(argv.keys)} keys (16-byte keys, ${argv['value-size']}-byte values) in the snapshot, ` +
    `${fmt(Math.min(argv['log-keys'], argv.keys))} overwritten after it (in the log); SIGKILL, then time from spawn to the first PONG\n`,
);
const r = await timeRecovery(redis);
const k = await timeRecovery(kv);
const med = (xs: number[]) => xs[Math.floor(xs.length / 2)] ?? NaN;
printTable(
  ['server', 'keys', 'files MB', 'spawn to PONG ms', 'x Redis', 'loading files ms', 'x Redis'],
  [
    ['redis-server (AOF: RDB preamble + incr)', fmt(r.keys), fmt(r.bytes / 1e6, 1), fmt(med(r.ms)), '1.00', fmt(med(r.load)), '1.00'],
    ['kv-server (snapshot + log)', fmt(k.keys), fmt(k.bytes / 1e6, 1), fmt(med(k.ms)), fmt(med(k.ms) / med(r.ms), 2), fmt(med(k.load)), fmt(med(k.load) / med(r.load), 2)],
  ],
);
console.log(
  '\nLower is better. "spawn to PONG" is what a client sees (it includes starting Node and loading modules);' +
    '\n"loading files" is each server\'s own figure: Redis\'s "DB loaded from append only file", kv-server\'s "data loaded" ms.' +
    `\nMedian of ${argv.runs} restart(s); files: the data directory after the kill.`,
);
