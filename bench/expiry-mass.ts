/**
 * Issue 11's mass-expiry benchmark: 1M keys (16-byte keys, 100-byte values) that all
 * expire at the same instant T (`SET k v PXAT T`, T a whole second a little after the
 * load ends), and nobody reads them. Against redis-server (AOF everysec, its active
 * expiry) and kv-server (persistence on, so every expiry is logged as a delete;
 * --no-log-ops and the default) in the same run, it measures:
 *
 * - how long after T the server's count of keys with a TTL (INFO keyspace `expires`,
 *   polled on its own connection) reaches 0 (target: <= 10 s);
 * - the server's longest stall, seen from outside: a worker thread sends one PING at a
 *   time, about 1 ms apart, on its own connection (bench/expiry-mass-pinger.ts); the
 *   largest and the p99.9 round trip after T, against the same before T (target: max <= 20 ms);
 * - the p99 of a paced load (open loop: --rate GET+SET a second over --connections
 *   connections, on 10,000 other keys with no TTL) from T until the count reaches 0,
 *   against its p99 in the --baseline seconds before T (target: <= 2x).
 *
 * Figures only: nothing passes or fails. Every wait is bounded (--max-wait after T).
 *
 *   npm run bench:expiry -- [--keys 1000000] [--rate 2000] [--baseline 5] [--max-wait 60]
 *                           [--servers redis,kv,kv-log-ops] [--rounds 1] [--lead 60]
 *
 * KV_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR" profiles the kv-servers (bench/lib/procs.ts).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { addEncoded, createHistogram, recordMs, summarize, type Histogram } from '../clients/lib/bench/latency.js';
import type { PingerData, PingerReport, PingerRequest } from './expiry-mass-pinger.js';
import { writeCommandFile } from './lib/load-file.js';
import { MAX_INFLIGHT_PER_CONN, startPacedLoad } from './lib/paced-load.js';
import { RespQuery } from './lib/resp-query.js';
import { cpuTimes, ensureDebianPackages, fmt, loadAverage, printTable, processCpuMs, startKvServer, startRedis, stealPercent, tempDir, type Proc } from './lib/procs.js';
import { keyOf, pipeLoad, respCommand, TimedConnection, valueOf } from './persistence-common.js';

const argv = await yargs(hideBin(process.argv))
  .option('keys', { type: 'number', default: 1_000_000, describe: 'keys that expire at T' })
  .option('value-size', { type: 'number', default: 100 })
  .option('load-keys', { type: 'number', default: 10_000, describe: 'keys without a TTL that the paced load reads and writes' })
  .option('rate', { type: 'number', default: 2000, describe: 'paced requests per second, GET and SET alternating' })
  .option('connections', { type: 'number', default: 4, describe: 'connections of the paced load' })
  .option('warmup', { type: 'number', default: 1, describe: 'seconds of paced load before the baseline' })
  .option('baseline', { type: 'number', default: 5, describe: 'seconds measured before T' })
  .option('settle', { type: 'number', default: 2, describe: 'seconds left idle after the load' })
  .option('max-wait', { type: 'number', default: 60, describe: 'seconds after T given to the server to reclaim every key' })
  .option('poll', { type: 'number', default: 50, describe: 'ms between two INFO keyspace' })
  .option('lead', { type: 'number', default: 60, describe: 'seconds allowed for writing the load file and loading it, the first time for each server' })
  .option('rounds', { type: 'number', default: 1, describe: 'runs per server, interleaved' })
  .option('servers', { type: 'string', default: 'redis,kv,kv-log-ops', describe: 'which servers, comma-separated: redis, kv (--no-log-ops), kv-log-ops (the default)' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-cli': 'redis-tools' });

interface Kind {
  readonly id: string;
  readonly name: string;
  readonly start: () => Promise<Proc>;
}
const KINDS: readonly Kind[] = [
  { id: 'redis', name: 'redis-server (AOF everysec)', start: () => startRedis([['appendonly', 'yes'], ['appendfsync', 'everysec']]) },
  { id: 'kv', name: 'kv-server --no-log-ops', start: () => startKvServer(['--no-log-ops']) },
  { id: 'kv-log-ops', name: 'kv-server (default: every op logged)', start: () => startKvServer() },
];
const chosen = argv.servers.split(',').map((id) => {
  const k = KINDS.find((x) => x.id === id.trim());
  if (k === undefined) throw new Error(`unknown server ${id}: use ${KINDS.map((x) => x.id).join(', ')}`);
  return k;
});

const work = tempDir('dualkv-bench-expiry-');
const loadKeysFile = path.join(work, 'load-keys.resp');
const expiringFile = path.join(work, 'expiring.resp');
const loadKey = (i: number) => `load:${String(i).padStart(11, '0')}`; // 16 bytes, as the others
await writeCommandFile(loadKeysFile, argv['load-keys'], (i) => ['SET', loadKey(i), valueOf(i, 0, argv['value-size'])]);

const sleepUntil = (epochMs: number) => new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now())));

interface Keyspace {
  keys: number;
  expires: number;
}
/**
 * Whether the server is compacting its files: kv-server's snapshot (rdb_bgsave_in_progress),
 * Redis's BGSAVE or AOF rewrite. Loading 1M keys sets one off in both; it competes for the CPU.
 */
async function compacting(q: RespQuery): Promise<boolean> {
  const text = (await q.query('INFO', 'persistence')) ?? '';
  return /^(rdb_bgsave_in_progress|aof_rewrite_in_progress):1/m.test(text);
}

async function keyspace(q: RespQuery): Promise<Keyspace> {
  const text = (await q.query('INFO', 'keyspace')) ?? '';
  const m = /^db0:keys=(\d+),expires=(\d+)/m.exec(text);
  return m ? { keys: Number(m[1]), expires: Number(m[2]) } : { keys: 0, expires: 0 };
}

interface Run {
  readonly kind: Kind;
  /** The expiry of every loaded key, ms since the epoch. */
  readonly T: number;
  readonly writeMs: number;
  readonly loadMs: number;
  /** ms from T until `expires` was first seen at 0; null if not within --max-wait. */
  readonly reclaimMs: number | null;
  /** ms from T until `expires` was first seen below the number loaded. */
  readonly firstGoneMs: number | null;
  /** [ms after T, keys with a TTL left] at each whole second. */
  readonly timeline: Array<[number, number]>;
  readonly ping: Record<'before' | 'during', { p999: number; max: number; count: number; worst: Array<{ at: number; ms: number }>; timerLate: number }>;
  readonly paced: Record<'before' | 'during', { p50: number; p90: number; p99: number; max: number; count: number; errors: number }>;
  readonly unsent: number;
  readonly steal: number | null;
  readonly baselineSec: number;
  /** The server's CPU time over the wall time, in percent, from T until all were gone. */
  readonly serverCpu: number;
  /** The machine's 1-minute load average when all were gone (2 cores: above 2, processes wait for a CPU). */
  readonly loadavg: number;
  /** ms spent after the load waiting for the server's own snapshot or rewrite to end (bounded by the lead). */
  readonly quietWaitMs: number;
  /** Share of the polls that found a snapshot or rewrite running: before T, and after T. */
  readonly compacting: Record<'before' | 'during', number>;
}

/** Paced GET/SET on the load keys, into a histogram per phase (by send time). */
function startLoadKeysTraffic(conns: TimedConnection[]) {
  const hist: Record<'before' | 'during', { h: Histogram; max: number; errors: number }> = {
    before: { h: createHistogram(), max: 0, errors: 0 },
    during: { h: createHistogram(), max: 0, errors: 0 },
  };
  let phase: 'before' | 'during' | null = null;
  const paced = startPacedLoad(conns, argv.rate, (n) => {
    const k = Math.floor(Math.random() * argv['load-keys']);
    const label = phase;
    return {
      command: (n & 1) === 0 ? respCommand('GET', loadKey(k)) : respCommand('SET', loadKey(k), valueOf(k, n, argv['value-size'])),
      done: (took, error) => {
        if (label === null) return;
        const b = hist[label];
        recordMs(b.h, took);
        if (took > b.max) b.max = took;
        if (error) b.errors++;
      },
    };
  });
  return {
    setPhase: (p: typeof phase) => void (phase = p),
    stop: () => paced.stop(),
    get unsent() {
      return paced.unsent;
    },
    summary: (p: 'before' | 'during') => {
      const s = summarize(hist[p].h);
      return { p50: s.p50 / 1000, p90: s.p90 / 1000, p99: s.p99 / 1000, max: hist[p].max, count: s.count, errors: hist[p].errors };
    },
  };
}

/** One run against a fresh server; 'overran' when the load did not end in time for T. */
async function runOnce(kind: Kind, leadSec: number): Promise<Run | { overran: number }> {
  const proc = await kind.start();
  const q = await RespQuery.open(proc.port);
  try {
    pipeLoad(proc.port, loadKeysFile);
    const T = Math.ceil((Date.now() + (leadSec + argv.settle + argv.warmup + argv.baseline) * 1000) / 1000) * 1000;
    let t = performance.now();
    await writeCommandFile(expiringFile, argv.keys, (i) => ['SET', keyOf(i), valueOf(i, 0, argv['value-size']), 'PXAT', String(T)]);
    const writeMs = performance.now() - t;
    t = performance.now();
    pipeLoad(proc.port, expiringFile);
    const loadMs = performance.now() - t;
    const start = Math.max(Date.now() + argv.settle * 1000, T - (argv.warmup + argv.baseline) * 1000);
    if (start + argv.warmup * 1000 > T - 1000) return { overran: writeMs + loadMs };
    const loaded = await keyspace(q);
    if (loaded.expires !== argv.keys) console.error(`${kind.name}: ${loaded.expires} keys with a TTL after the load, not ${argv.keys}`);
    // The baseline should see the server at rest: wait out the compaction the load set off, while T allows.
    const quiet0 = Date.now();
    while (Date.now() < start && (await compacting(q))) await new Promise((r) => setTimeout(r, 200));
    const quietWaitMs = Date.now() - quiet0;
    await sleepUntil(start);

    const pinger = new Worker(new URL('./expiry-mass-pinger.js', import.meta.url), {
      workerData: { port: proc.port, maxMs: (T - Date.now()) + (argv['max-wait'] + 10) * 1000 } satisfies PingerData,
    });
    const report = new Promise<PingerReport>((resolve, reject) => {
      pinger.once('message', resolve);
      pinger.once('error', reject);
    });
    const tell = (m: PingerRequest) => pinger.postMessage(m);
    const conns = await Promise.all(Array.from({ length: argv.connections }, () => TimedConnection.open(proc.port)));
    const load = startLoadKeysTraffic(conns);

    await sleepUntil(T - argv.baseline * 1000);
    const baselineStart = Date.now();
    load.setPhase('before');
    tell({ cmd: 'phase', phase: 'before' });
    const polls = { before: { busy: 0, of: 0 }, during: { busy: 0, of: 0 } };
    while (Date.now() < T - argv.poll) {
      polls.before.of++;
      if (await compacting(q)) polls.before.busy++;
      await new Promise((r) => setTimeout(r, Math.min(argv.poll, Math.max(0, T - Date.now()))));
    }
    await sleepUntil(T);
    load.setPhase('during');
    tell({ cmd: 'phase', phase: 'during' });
    const cpu0 = cpuTimes();
    const serverCpu0 = processCpuMs(proc.child.pid as number);
    let reclaimMs: number | null = null;
    let firstGoneMs: number | null = null;
    const timeline: Array<[number, number]> = [];
    let nextMark = 0;
    while (Date.now() < T + argv['max-wait'] * 1000) {
      const ks = await keyspace(q);
      const after = Date.now() - T;
      polls.during.of++;
      if (await compacting(q)) polls.during.busy++;
      if (firstGoneMs === null && ks.expires < argv.keys) firstGoneMs = after;
      if (after >= nextMark) {
        timeline.push([after, ks.expires]);
        nextMark = (Math.floor(after / 1000) + 1) * 1000;
      }
      if (ks.expires === 0) {
        reclaimMs = after;
        timeline.push([after, 0]);
        break;
      }
      await new Promise((r) => setTimeout(r, argv.poll));
    }
    load.setPhase(null);
    tell({ cmd: 'stop' });
    const steal = stealPercent(cpu0, cpuTimes());
    const serverCpu = (100 * (processCpuMs(proc.child.pid as number) - serverCpu0)) / Math.max(1, Date.now() - T);
    const loadavg = loadAverage();
    load.stop();
    for (let i = 0; i < 500 && conns.some((c) => c.pending > 0); i++) await new Promise((r) => setTimeout(r, 10));
    for (const c of conns) c.close();
    const pings = await report;
    await pinger.terminate(); // its parentPort listener would keep it alive
    const pingOf = (p: 'before' | 'during') => {
      const r = pings.phases[p];
      if (r === undefined) return { p999: NaN, max: NaN, count: 0, worst: [], timerLate: NaN };
      const h = createHistogram();
      addEncoded(h, r.histogram);
      const s = summarize(h);
      h.destroy();
      return { p999: s.p999 / 1000, max: r.maxMs, count: r.count, worst: r.worst, timerLate: r.timerLateMaxMs };
    };
    return {
      kind,
      T,
      writeMs,
      loadMs,
      reclaimMs,
      firstGoneMs,
      timeline,
      ping: { before: pingOf('before'), during: pingOf('during') },
      paced: { before: load.summary('before'), during: load.summary('during') },
      unsent: load.unsent,
      steal,
      baselineSec: (T - baselineStart) / 1000,
      serverCpu,
      loadavg,
      quietWaitMs,
      compacting: { before: polls.before.busy / Math.max(1, polls.before.of), during: polls.during.busy / Math.max(1, polls.during.of) },
    };
  } finally {
    q.close();
    await proc.stop();
  }
}

console.log(
  `# Mass expiry: ${fmt(argv.keys)} keys (16-byte keys, ${argv['value-size']}-byte values) with the same PXAT T, no reads of them; ` +
    `paced load ${fmt(argv.rate)} GET+SET/s over ${argv.connections} connections on ${fmt(argv['load-keys'])} other keys; ` +
    `PING probe ~1 ms apart; ${argv.baseline} s before T as the baseline\n`,
);
const runs: Run[] = [];
/** Seconds the last run of each server took to write and load, for the next one's lead. */
const took = new Map<string, number>();
for (let round = 0; round < argv.rounds; round++) {
  for (const kind of chosen) {
    let lead = took.has(kind.id) ? (took.get(kind.id) as number) * 1.5 + 2 : argv.lead;
    for (let attempt = 0; attempt < 2; attempt++) {
      console.error(`round ${round + 1}/${argv.rounds}: ${kind.name}, ${fmt(lead)} s for the load …`);
      const r = await runOnce(kind, lead);
      if ('overran' in r) {
        console.error(`  the load took ${fmt(r.overran / 1000, 1)} s, past T: run again with more time`);
        lead = (r.overran / 1000) * 2 + 2;
        continue;
      }
      took.set(kind.id, (r.writeMs + r.loadMs) / 1000);
      runs.push(r);
      break;
    }
  }
}

rmSync(work, { recursive: true, force: true }); // the load file is 170 MB

const ms = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? 'n/a' : fmt(n, digits));
printTable(
  ['server', 'load s', 'first gone ms', 'all gone s', 'PING p99.9/max before ms', 'PING p99.9/max after T ms', 'paced p50/p90/p99 before ms', 'paced p50/p90/p99 after T ms', 'p99 x before', 'errors', 'server CPU', 'loadavg', 'steal'],
  runs.map((r) => [
    r.kind.name,
    fmt(r.loadMs / 1000, 1),
    ms(r.firstGoneMs, 0),
    r.reclaimMs === null ? `> ${argv['max-wait']}` : fmt(r.reclaimMs / 1000, 2),
    `${ms(r.ping.before.p999)} / ${ms(r.ping.before.max)}`,
    `${ms(r.ping.during.p999)} / ${ms(r.ping.during.max)}`,
    `${ms(r.paced.before.p50, 2)} / ${ms(r.paced.before.p90, 2)} / ${ms(r.paced.before.p99, 2)}`,
    `${ms(r.paced.during.p50, 2)} / ${ms(r.paced.during.p90, 2)} / ${ms(r.paced.during.p99, 2)}`,
    fmt(r.paced.during.p99 / r.paced.before.p99, 2),
    String(r.paced.before.errors + r.paced.during.errors),
    `${fmt(r.serverCpu)}%`,
    fmt(r.loadavg, 1),
    r.steal === null ? '-' : `${fmt(r.steal, 1)}%`,
  ]),
);
console.log('\n"after T": from T until INFO keyspace showed no key with a TTL (or --max-wait). Keys with a TTL left, by ms after T:');
for (const r of runs) {
  console.log(`  ${r.kind.name}: ${r.timeline.map(([at, n]) => `${fmt(at)}: ${fmt(n)}`).join(', ')}`);
  console.log(
    `    slowest PINGs after T: ${r.ping.during.worst.map((w) => `${ms(w.ms)} ms (sent at +${fmt(w.at - r.T)} ms)`).join(', ') || 'none'}` +
      ` (${fmt(r.ping.during.count)} PINGs; ${fmt(r.ping.before.count)} before); paced load: ${fmt(r.paced.before.count)} replies before, ${fmt(r.paced.during.count)} after T` +
      (r.unsent > 0 ? `, ${fmt(r.unsent)} not sent (a connection had ${MAX_INFLIGHT_PER_CONN} unanswered)` : '') +
      `; baseline ${fmt(r.baselineSec, 1)} s; the probe's own 1 ms timer fired up to ${ms(r.ping.before.timerLate)} ms late before T, ${ms(r.ping.during.timerLate)} ms after`,
  );
  console.log(
    `    a snapshot or rewrite was running in ${fmt(100 * r.compacting.before)}% of the polls before T and ${fmt(100 * r.compacting.during)}% after ` +
      `(${fmt(r.quietWaitMs / 1000, 1)} s waited after the load for the one it set off)`,
  );
}

console.log('\nTargets (issue 11), kv-server runs:');
for (const r of runs.filter((x) => x.kind.id !== 'redis')) {
  const ratio = r.paced.during.p99 / r.paced.before.p99;
  const yes = (ok: boolean) => (ok ? 'met' : 'not met');
  console.log(
    `  ${r.kind.name}: all gone in ${r.reclaimMs === null ? `> ${argv['max-wait']}` : fmt(r.reclaimMs / 1000, 2)} s (<= 10 s: ${yes(r.reclaimMs !== null && r.reclaimMs <= 10_000)}); ` +
      `longest PING ${ms(r.ping.during.max)} ms (<= 20 ms: ${yes(r.ping.during.max <= 20)}); ` +
      `paced p99 ${fmt(ratio, 2)}x its baseline (<= 2x: ${yes(ratio <= 2)})`,
  );
}
