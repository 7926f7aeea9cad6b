/**
 * Issue 4's write-throughput benchmark: kv-server under each --fsync policy against
 * redis-server with `appendonly yes` and the same `appendfsync`, in the same run,
 * both driven by `redis-benchmark -t set -c 50`. Prints requests/s, p50 and p99, and
 * the ratio ours/Redis per policy (target: >= 0.5x). Figures only: nothing here
 * passes or fails.
 *
 *   npm run bench:persistence:throughput -- [--requests 100000] [--clients 50] [--runs 1] [--log-ops]
 */
import { execFileSync } from 'node:child_process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ensureDebianPackages, fmt, printTable, startKvServer, startRedis, type Proc } from './lib/procs.js';

const argv = await yargs(hideBin(process.argv))
  .option('requests', { type: 'number', default: 100_000, describe: 'redis-benchmark -n, per run' })
  .option('clients', { type: 'number', default: 50, describe: 'redis-benchmark -c' })
  .option('runs', { type: 'number', default: 1, describe: 'runs per server and policy; the median is shown' })
  .option('policies', { type: 'string', default: 'always,everysec,no', describe: 'comma-separated --fsync policies' })
  .option('log-ops', { type: 'boolean', default: false, describe: 'keep kv-server\'s per-operation log lines (its default); off isolates persistence' })
  .strict()
  .parse();

ensureDebianPackages({ 'redis-server': 'redis-server', 'redis-benchmark': 'redis-tools', 'redis-cli': 'redis-tools' });

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

/** redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms" */
function benchmark(port: number): Figures {
  const out = execFileSync(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-c', String(argv.clients), '-n', String(argv.requests), '--csv'],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const line = out.split(/\r?\n/).find((l) => l.startsWith('"SET"'));
  if (!line) throw new Error(`could not read redis-benchmark output:\n${out}`);
  const f = line.split(',').map((c) => Number(c.replace(/"/g, '')));
  return { rps: f[1] ?? NaN, p50: f[4] ?? NaN, p99: f[6] ?? NaN };
}

function median(xs: Figures[]): Figures {
  const pick = (k: keyof Figures) => {
    const s = xs.map((x) => x[k]).sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? NaN;
  };
  return { rps: pick('rps'), p50: pick('p50'), p99: pick('p99') };
}

async function measure(start: () => Promise<Proc>): Promise<Figures> {
  const runs: Figures[] = [];
  for (let i = 0; i < argv.runs; i++) {
    const proc = await start(); // a fresh server and data directory per run: the log starts empty
    try {
      runs.push(benchmark(proc.port));
    } finally {
      await proc.stop();
    }
  }
  return median(runs);
}

const policies = argv.policies.split(',').map((p) => p.trim()) as Array<'always' | 'everysec' | 'no'>;
console.log(
  `# Write throughput: redis-benchmark -t set -c ${argv.clients} -n ${argv.requests}, ${argv.runs} run(s) each` +
    `\n# redis-server: appendonly yes, save "", same appendfsync; kv-server: --fsync <policy>${argv['log-ops'] ? '' : ' --no-log-ops'}\n`,
);
const rows: string[][] = [];
for (const policy of policies) {
  const redis = await measure(() => startRedis([['appendonly', 'yes'], ['appendfsync', policy]]));
  const ours = await measure(() => startKvServer(['--fsync', policy, '--snapshot-interval', '0', ...(argv['log-ops'] ? [] : ['--no-log-ops'])]));
  rows.push([`redis-server appendfsync ${policy}`, fmt(redis.rps), fmt(redis.p50, 3), fmt(redis.p99, 3), '1.00']);
  rows.push([`kv-server --fsync ${policy}`, fmt(ours.rps), fmt(ours.p50, 3), fmt(ours.p99, 3), fmt(ours.rps / redis.rps, 2)]);
}
printTable(['server', 'SET req/s', 'p50 ms', 'p99 ms', 'x Redis'], rows);
console.log('\nTarget: kv-server >= 0.50x Redis for each policy.');
