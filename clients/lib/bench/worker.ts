import { parentPort, workerData } from 'node:worker_threads';
import { KvError } from '../../../src/errors.js';
import { encodeHistogram } from './latency.js';
import { LoadLoop, type LoopResult } from './load-loop.js';
import { drainMs, laneShare, type BenchOptions } from './options.js';
import { Preloader } from './preload.js';
import { ErrorKind } from './tally.js';
import { openTransport } from './transports.js';
import type { Lane } from './transport.js';
import { Workload } from './workload.js';
import type { FromWorker, ToWorker, WorkerInput } from './worker-messages.js';

/**
 * One load thread: opens its share of the connections (or its UDP socket),
 * preloads its share of the keys if asked, says it is ready, runs on `start`,
 * posts progress every PROGRESS_MS, and posts its counts and histogram at the end.
 */
export const PROGRESS_MS = 250;

if (parentPort === null) throw new Error('worker.ts runs as a worker thread (see run.ts)');
const port = parentPort;
const input = workerData as WorkerInput;
const o: BenchOptions = input.options;
const post = (m: FromWorker) => port.postMessage(m);

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof KvError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

let onReady: (lane: Lane) => void = () => undefined;
let onFatal: (err: Error) => void = () => undefined;
const workload = new Workload(o.ratio, o.keys, o.valueSize, o.seed, input.index);

async function main(): Promise<void> {
  let transport;
  try {
    transport = await openTransport(o.transport, laneShare(o, input.index), { onReady: (l) => onReady(l), onFatal: (e) => onFatal(e) });
  } catch (err) {
    post({ t: 'fatal', ...describe(err) });
    return;
  }
  let preload = null;
  if (o.preload) {
    const p = new Preloader(transport, workload, input.index, o.threads);
    onReady = (l) => p.laneReady(l);
    let fatal: Error | null = null;
    onFatal = (e) => {
      fatal ??= e;
      p.fail();
    };
    preload = await p.run();
    if (fatal === null && preload.firstError !== null) {
      fatal = new KvError(
        preload.firstError === ErrorKind.TIMEOUT ? 'TIMEOUT' : 'CONNECTION',
        `--preload: a PUT failed (${preload.firstError}), so the run was not started; check that the server takes writes of --value-size ${o.valueSize} bytes`,
      );
    }
    if (fatal !== null) {
      post({ t: 'fatal', ...describe(fatal) });
      await transport.close(ErrorKind.CONNECTION);
      return;
    }
  }
  post({ t: 'ready', preload });
  await new Promise<void>((resolve) => {
    port.once('message', (m: ToWorker) => {
      if (m.t === 'start') resolve();
    });
  });

  const loop = new LoadLoop(transport, workload, {
    warmupMs: o.warmupS * 1000,
    durationMs: o.durationS === null ? null : o.durationS * 1000,
    requests: o.requests === null ? null : Math.floor(o.requests / o.threads) + (input.index < o.requests % o.threads ? 1 : 0),
    rate: o.rate === null ? null : o.rate / o.threads,
    drainMs: drainMs(o),
    servers: o.servers.length,
  });
  onReady = (l) => loop.laneReady(l);
  onFatal = (e) => loop.fail(e);
  port.on('message', (m: ToWorker) => {
    if (m.t === 'stop') loop.stop(m.drain);
  });
  const progress = setInterval(() => {
    const iv = loop.interval;
    post({ t: 'progress', ok: iv.ok, errors: iv.errors, histogram: input.progress ? encodeHistogram(iv.histogram) : null, sent: loop.tally.sent, done: loop.tally.ok + loop.tally.errors });
    iv.ok = 0;
    iv.errors = 0;
    iv.histogram.reset();
  }, PROGRESS_MS);

  let result: LoopResult;
  let fatal: { code: string; message: string } | null = null;
  try {
    result = await loop.run();
  } catch (err) {
    const r = (err as { result?: LoopResult }).result;
    if (r === undefined) throw err;
    result = r;
    fatal = describe(err);
  }
  clearInterval(progress);
  await transport.close(ErrorKind.UNFINISHED);
  post({
    t: 'done',
    tally: result.tally,
    histogram: encodeHistogram(result.histogram),
    measureFrom: result.measureFrom,
    lastDone: result.lastDone,
    unsent: result.unsent,
    servers: result.servers.map((s) => ({ tally: s.tally, histogram: encodeHistogram(s.histogram) })),
    fatal,
  });
  port.close();
}

main().catch((err: unknown) => {
  post({ t: 'fatal', ...describe(err) });
  port.close();
});
