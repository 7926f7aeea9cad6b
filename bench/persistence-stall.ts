/**
 * Issue 4's stall benchmark: does a snapshot of a big store slow the clients down?
 *
 * A kv-server (bench/persistence-stall-server.ts, forked, with monitorEventLoopDelay
 * on its event loop) is loaded with --keys keys (16-byte keys, 100-byte values) and
 * snapshotted once. Then a paced load of GET and PUT (50/50, random keys, --rate
 * requests/s over --connections connections) runs for --baseline seconds with no
 * snapshot, then again while a SAVE runs (the worker folds the previous snapshot and
 * the log into a new one). Prints p50/p99/max latency per command and the event-loop
 * delay for both phases, and the ratio of p99s (target: during <= 2x without, and no
 * event-loop stall over 50 ms). Figures only: nothing here passes or fails.
 *
 * The load is paced (open loop): requests leave on schedule whether or not earlier ones
 * were answered, so a stall shows up as latency instead of being hidden by a closed loop.
 *
 *   npm run bench:persistence:stall -- [--keys 1000000] [--rate 10000] [--connections 16] [--baseline 10] [--fsync everysec]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureDebianPackages, fmt, printTable, tempDir } from './lib/procs.js';
import { keyOf, max, ms, percentile, pipeLoad, respCommand, TimedConnection, valueOf, writeLoadFile } from './persistence-common.js';
import type { StallMessage, StallRequest } from './persistence-stall-server.js';
import { MAX_INFLIGHT_PER_CONN, startPacedLoad } from './lib/paced-load.js';

const argv = await yargs(hideBin(process.argv))
  .option('keys', { type: 'number', default: 1_000_000, describe: 'keys in the store when the snapshot runs' })
  .option('value-size', { type: 'number', default: 100 })
  .option('rate', { type: 'number', default: 10_000, describe: 'requests per second, GET and PUT half each' })
  .option('connections', { type: 'number', default: 16 })
  .option('baseline', { type: 'number', default: 10, describe: 'seconds measured with no snapshot' })
  .option('warmup', { type: 'number', default: 2, describe: 'seconds of load before measuring' })
  .option('fsync', { choices: ['always', 'everysec', 'no'] as const, default: 'everysec' as const })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-cli': 'redis-tools' });

const here = path.dirname(fileURLToPath(import.meta.url));
const work = tempDir('dualkv-bench-stall-');
const child: ChildProcess = fork(path.join(here, 'persistence-stall-server.js'), [path.join(work, 'data'), argv.fsync], {
  stdio: 'inherit',
  execArgv: process.env.KV_NODE_FLAGS?.split(' ').filter(Boolean) ?? [],
});

function next(type: StallMessage['type']): Promise<StallMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: StallMessage) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) while waiting for ${type}`)));
  });
}
const ask = (r: StallRequest) => child.send(r);

const ready = (await next('ready')) as Extract<StallMessage, { type: 'ready' }>;
const port = ready.port;

console.log(`# Stall: ${fmt(argv.keys)} keys, paced GET/PUT at ${fmt(argv.rate)}/s over ${argv.connections} connections, --fsync ${argv.fsync}\n`);
const loadFile = path.join(work, 'load.resp');
await writeLoadFile(loadFile, 0, argv.keys, 0, argv['value-size']);
let t = performance.now();
pipeLoad(port, loadFile);
console.log(`loaded ${fmt(argv.keys)} keys in ${fmt(performance.now() - t)} ms`);
const control = await TimedConnection.open(port);
const save = () =>
  new Promise<{ ms: number; error: boolean }>((resolve) => control.send(respCommand('SAVE'), (took, error) => resolve({ ms: took, error })));
t = performance.now();
const first = await save();
console.log(`first snapshot (from the log alone) took ${fmt(first.ms)} ms${first.error ? ' and FAILED' : ''}\n`);

const conns = await Promise.all(Array.from({ length: argv.connections }, () => TimedConnection.open(port)));
type Phase = 'warmup' | 'baseline' | 'snapshot' | 'idle';
let phase: Phase = 'warmup';
const lat: Record<'baseline' | 'snapshot', { GET: number[]; PUT: number[]; errors: number }> = {
  baseline: { GET: [], PUT: [], errors: 0 },
  snapshot: { GET: [], PUT: [], errors: 0 },
};
let generation = 1;
const load = startPacedLoad(conns, argv.rate, (n) => {
  const k = Math.floor(Math.random() * argv.keys);
  const isGet = (n & 1) === 0;
  const label = phase;
  return {
    command: isGet ? respCommand('GET', keyOf(k)) : respCommand('SET', keyOf(k), valueOf(k, generation++, argv['value-size'])),
    done: (took, error) => {
      if (label !== 'baseline' && label !== 'snapshot') return;
      const bucket = lat[label];
      if (error) bucket.errors++;
      (isGet ? bucket.GET : bucket.PUT).push(took);
    },
  };
});

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
async function loopDelay(): Promise<Extract<StallMessage, { type: 'report' }>> {
  const p = next('report');
  ask({ cmd: 'report' });
  return (await p) as Extract<StallMessage, { type: 'report' }>;
}

await sleep(argv.warmup);
ask({ cmd: 'reset' });
phase = 'baseline';
const b0 = performance.now();
await sleep(argv.baseline);
phase = 'idle';
const baselineMs = performance.now() - b0;
const baselineLoop = await loopDelay();

ask({ cmd: 'reset' });
phase = 'snapshot';
const s0 = performance.now();
const during = await save();
phase = 'idle';
const snapshotMs = performance.now() - s0;
const snapshotLoop = await loopDelay();
load.stop();
// Let the replies still in flight land (they are counted in their phase).
for (let i = 0; i < 500 && conns.some((c) => c.pending > 0); i++) await sleep(0.01);

const row = (name: string, key: 'baseline' | 'snapshot', took: number, loop: Extract<StallMessage, { type: 'report' }>) => {
  const l = lat[key];
  const n = l.GET.length + l.PUT.length;
  return [
    name,
    fmt(took / 1000, 1),
    fmt(n / (took / 1000)),
    `${ms(percentile(l.GET, 50))} / ${ms(percentile(l.GET, 99))} / ${ms(max(l.GET))}`,
    `${ms(percentile(l.PUT, 50))} / ${ms(percentile(l.PUT, 99))} / ${ms(max(l.PUT))}`,
    `${ms(loop.p99)} / ${ms(loop.max)}`,
    String(l.errors),
  ];
};
printTable(
  ['phase', 's', 'replies/s', 'GET p50 / p99 / max ms', 'PUT p50 / p99 / max ms', 'loop delay p99 / max ms', 'errors'],
  [row('no snapshot', 'baseline', baselineMs, baselineLoop), row(`during SAVE (${fmt(argv.keys)} keys)`, 'snapshot', snapshotMs, snapshotLoop)],
);
const ratio = (k: 'GET' | 'PUT') => percentile(lat.snapshot[k], 99) / percentile(lat.baseline[k], 99);
console.log(
  `\nSAVE took ${fmt(during.ms)} ms${during.error ? ' and FAILED' : ''}. p99 during / without: GET ${fmt(ratio('GET'), 2)}x, PUT ${fmt(ratio('PUT'), 2)}x (target <= 2x); ` +
    `event-loop max during the snapshot ${ms(snapshotLoop.max, 1)} ms (target <= 50 ms).` +
    (load.unsent ? `\n${fmt(load.unsent)} requests were not sent: a connection had ${MAX_INFLIGHT_PER_CONN} unanswered.` : ''),
);
for (const c of [...conns, control]) c.close();
ask({ cmd: 'stop' });
await once(child, 'exit');
