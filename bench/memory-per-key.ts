/**
 * Issues 2 and 11's memory benchmark: memory per key for 1M keys (16-byte keys,
 * 100-byte values), without a TTL and with one on every key (`SET k v EX 100000`),
 * loaded with redis-cli --pipe into redis-server and kv-server in the same run.
 * Prints each server's used_memory and RSS per key (growth over the empty server,
 * divided by DBSIZE) and the ratios ours/Redis. Figures only: nothing passes or fails.
 *
 * RSS is read twice: --settle seconds after the load, and again after --rest seconds with
 * no requests. In between, V8's memory reducer (which acts once allocation has stopped for
 * some seconds) collects the load's garbage and shrinks the young generation it grew, about
 * 30 MB for this load, 10 to 30 s after the load on this machine. The first figure is the
 * server just after a bulk load, the second the same data at rest; both are printed.
 *
 *   npm run bench:memory -- [--keys 1000000] [--ttl 100000] [--settle 3] [--rest 45]
 *
 * Neither server persists (Redis appendonly no, kv-server --no-persistence) and
 * kv-server runs --no-log-ops: the figure is the store, not a log's buffers.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureDebianPackages, fmt, printTable, rssBytes, startKvServer, startRedis, tempDir, type Proc } from './lib/procs.js';
import { writeCommandFile } from './lib/load-file.js';
import { infoNumber, keyOf, pipeLoad, redisCli, valueOf } from './persistence-common.js';

const argv = await yargs(hideBin(process.argv))
  .option('keys', { type: 'number', default: 1_000_000 })
  .option('ttl', { type: 'number', default: 100_000, describe: 'seconds, the EX of every key in the TTL case' })
  .option('value-size', { type: 'number', default: 100 })
  .option('settle', { type: 'number', default: 3, describe: 'seconds kv-server is given after the load, for V8 to finish the collections it set off' })
  .option('rest', { type: 'number', default: 45, describe: 'seconds after the load, with no requests, at which RSS is read again (both servers)' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-cli': 'redis-tools' });

interface PerKey {
  keys: number;
  used: number;
  rss: number;
  /** kv-server's V8 heap in use (INFO used_memory_heap), which its used_memory estimates; NaN for Redis. */
  heap: number;
  /** RSS and V8 heap again, --rest seconds after the load. */
  rssRest: number;
  heapRest: number;
}

/** Loads `file` into a fresh server and returns its growth per key. */
async function measure(start: () => Promise<Proc>, file: string, settleMs: number, restMs: number): Promise<PerKey> {
  const proc = await start();
  try {
    const pid = proc.child.pid as number;
    const used0 = infoNumber(proc.port, 'used_memory', 'memory');
    const heap0 = infoNumber(proc.port, 'used_memory_heap', 'memory');
    const rss0 = rssBytes(pid);
    pipeLoad(proc.port, file);
    const loaded = Date.now();
    const keys = Number(redisCli(proc.port, 'dbsize'));
    const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, loaded + ms - Date.now())));
    await sleepUntil(settleMs);
    const rss = (rssBytes(pid) - rss0) / keys;
    const heap = (infoNumber(proc.port, 'used_memory_heap', 'memory') - heap0) / keys;
    await sleepUntil(restMs);
    return {
      keys,
      used: (infoNumber(proc.port, 'used_memory', 'memory') - used0) / keys,
      rss,
      heap,
      rssRest: (rssBytes(pid) - rss0) / keys,
      heapRest: (infoNumber(proc.port, 'used_memory_heap', 'memory') - heap0) / keys,
    };
  } finally {
    await proc.stop();
  }
}

const dir = tempDir('dualkv-bench-mem-');
const cases = [
  { name: 'no TTL', file: path.join(dir, 'plain.resp'), extra: [] as string[], target: 1.1 },
  { name: `EX ${argv.ttl} on every key`, file: path.join(dir, 'ttl.resp'), extra: ['EX', String(argv.ttl)], target: 1.2 },
];
for (const c of cases) await writeCommandFile(c.file, argv.keys, (i) => ['SET', keyOf(i), valueOf(i, 0, argv['value-size']), ...c.extra]);

console.log(`# Memory per key: ${fmt(argv.keys)} keys, 16-byte keys, ${argv['value-size']}-byte values, loaded with redis-cli --pipe\n`);
const rows: string[][] = [];
const notes: string[] = [];
for (const c of cases) {
  const redis = await measure(() => startRedis([['appendonly', 'no']]), c.file, 0, argv.rest * 1000);
  const kv = await measure(() => startKvServer(['--no-log-ops', '--no-persistence']), c.file, argv.settle * 1000, argv.rest * 1000);
  for (const [name, m] of [
    ['redis-server', redis],
    ['kv-server', kv],
  ] as const) {
    const heap = (h: number) => (Number.isNaN(h) ? '-' : fmt(h, 1));
    rows.push([`${name}, ${c.name}`, fmt(m.keys), fmt(m.used, 1), fmt(m.rss, 1), heap(m.heap), fmt(m.rssRest, 1), heap(m.heapRest)]);
  }
  const used = kv.used / redis.used;
  const verdict = (x: number) => (x <= c.target ? 'met' : 'not met');
  const rssVsUsed = kv.rss / redis.used;
  const restVsUsed = kv.rssRest / redis.used;
  notes.push(
    `${c.name}: ours/Redis used_memory ${fmt(used, 2)}x (${verdict(used)}); our RSS / Redis used_memory ${fmt(rssVsUsed, 2)}x after the load (${verdict(rssVsUsed)}), ` +
      `${fmt(restVsUsed, 2)}x at rest (${verdict(restVsUsed)}); RSS/RSS ${fmt(kv.rss / redis.rss, 2)}x, at rest ${fmt(kv.rssRest / redis.rssRest, 2)}x (target <= ${fmt(c.target, 1)}x Redis used_memory)`,
  );
}
printTable(['server, keys', 'keys', 'used_memory/key', 'RSS/key', 'V8 heap used/key', `RSS/key at ${argv.rest} s`, `V8 heap/key at ${argv.rest} s`], rows);
console.log("\nkv-server's used_memory is its own accounting (what --maxmemory counts); its RSS and V8 heap are measured,");
console.log(`--settle ${argv.settle} s after the load (Redis: at once) and again ${argv.rest} s after it, both idle meanwhile.`);
console.log('');
for (const n of notes) console.log(n);
rmSync(dir, { recursive: true, force: true }); // the load files are 300 MB
