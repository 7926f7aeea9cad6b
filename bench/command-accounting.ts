/**
 * The per-command accounting's cost (ServerStats.countCommand, which INFO and /metrics
 * both read), against feeding prom-client on the hot path instead (a labelled
 * Counter.inc() and Histogram.observe() per command). Figures only: nothing passes or fails.
 *
 *   npm run bench:accounting -- [--commands 20000000] [--rounds 5]
 */
import { Counter, Histogram, Registry } from 'prom-client';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LATENCY_BUCKETS_US } from '../src/command-counters.js';
import { ServerStats } from '../src/stats.js';

const argv = await yargs(hideBin(process.argv))
  .option('commands', { type: 'number', default: 20_000_000 })
  .option('rounds', { type: 'number', default: 5 })
  .strict()
  .parse();

const NAMES = ['get', 'set', 'del', 'incr', 'mget', 'ttl', 'exists', 'expire'];
const TRANSPORTS = ['tcp', 'udp', 'http', 'tcp'];

/** ns per command of `count` over argv.commands calls, the best of argv.rounds. */
function measure(label: string, count: (name: string, transport: string, failed: boolean, us: number, rejected: boolean) => void): void {
  const n = argv.commands;
  let best = Infinity;
  for (let round = 0; round < argv.rounds; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) count(NAMES[i & 7] as string, TRANSPORTS[(i >> 3) & 3] as string, (i & 31) === 0, (i * 7) & 1023, (i & 255) === 1);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`${label.padEnd(44)} ${best.toFixed(1)} ns/command`);
}

const stats = new ServerStats();
measure('ServerStats.countCommand (arrays)', (name, transport, failed, us, rejected) => stats.countCommand(name, transport, failed, us, rejected));

const registry = new Registry();
const counter = new Counter({ name: 'c_total', help: 'c', labelNames: ['command', 'transport', 'result'], registers: [registry] });
const histogram = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['command'], buckets: LATENCY_BUCKETS_US.map((b) => b / 1e6), registers: [registry] });
measure('prom-client inc() + observe() per command', (name, transport, failed, us, rejected) => {
  counter.inc({ command: name, transport, result: rejected ? 'rejected' : failed ? 'error' : 'ok' });
  if (!rejected) histogram.observe({ command: name }, us / 1e6);
});
