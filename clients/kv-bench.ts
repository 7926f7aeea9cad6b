#!/usr/bin/env node
import { availableParallelism } from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isKvError } from '../src/errors.js';
import { ExitCode, UsageError } from './lib/cli-exit-codes.js';
import { formatJson, toJsonError, writeOut } from './lib/cli-output.js';
import { DEFAULTS, MAX_THREADS, resolveOptions, TRANSPORTS, type BenchOptions, type RawOptions } from './lib/bench/options.js';
import { ProgressLine } from './lib/bench/progress.js';
import { formatReport } from './lib/bench/report.js';
import { runBench, type BenchResult } from './lib/bench/run.js';
import { takeServerFlags } from './lib/server-list.js';

const NAME = 'kv-bench';
const DEFAULT_STALL_S = 10;

async function parseArgs(argv: string[]): Promise<{ options: BenchOptions; json: boolean; stallS: number }> {
  const cores = availableParallelism();
  const { rest, values: serverFlags } = takeServerFlags(argv);
  const a = await yargs(rest)
    .scriptName(NAME)
    .usage(
      `$0 [options]\n\n` +
        `A load generator for dualkv over TCP (the text dialect or RESP2) or UDP, and for memcached's UDP protocol.\n` +
        `It keeps --connections × --pipeline (TCP) or --inflight (UDP) requests outstanding, or with --rate sends on a\n` +
        `fixed schedule, and reports throughput, latency percentiles and errors by kind.\n\n` +
        `Load runs on worker threads: by default one per core (${cores} here), but never more than there are\n` +
        `connections (TCP) or requests in flight (UDP) to share; --threads overrides it (up to ${MAX_THREADS}).`,
    )
    .example('$0 --transport resp --connections 50 --pipeline 16 --duration 10', 'RESP2, 800 requests outstanding')
    .example('$0 --transport udp --inflight 64 --ratio 1:0:0 --preload', 'UDP GETs of keys that exist')
    .example('$0 --rate 20000 --json', 'open loop at 20,000 ops/s, figures as JSON')
    .parserConfiguration({ 'duplicate-arguments-array': false, 'dot-notation': false })
    .strict()
    .version(false)
    .group(['transport', 'server', 'host', 'port', 'connections', 'pipeline', 'inflight', 'threads', 'timeout', 'retries'], 'Target:')
    .option('transport', { choices: TRANSPORTS, describe: 'tcp: text dialect; resp: RESP2; udp: dualkv datagrams; memcached-udp: memcached (the UDP benchmark peer)', defaultDescription: DEFAULTS.transport })
    .option('server', { type: 'string', describe: 'A server as HOST:PORT ([::1]:7379 for IPv6); repeat or comma-separate for several: connections are spread round-robin, and figures are also given per server [env KV_SERVERS]' })
    .option('host', { type: 'string', describe: 'Server address', defaultDescription: DEFAULTS.host })
    .option('port', { type: 'string', describe: 'Server port', defaultDescription: String(DEFAULTS.port) })
    .option('connections', { alias: 'c', type: 'string', describe: 'TCP connections', defaultDescription: String(DEFAULTS.connections) })
    .option('pipeline', { alias: 'P', type: 'string', describe: 'Requests outstanding per TCP connection', defaultDescription: String(DEFAULTS.pipeline) })
    .option('inflight', { type: 'string', describe: 'UDP requests outstanding, all threads together', defaultDescription: String(DEFAULTS.inflight) })
    .option('threads', { type: 'string', describe: 'Load threads', defaultDescription: `min(cores = ${cores}, connections or inflight)` })
    .option('timeout', { type: 'string', describe: 'TCP: ms before a request counts as timed out. UDP: ms before the first retry (it then backs off)', defaultDescription: `TCP ${DEFAULTS.tcpTimeoutMs}, UDP ${DEFAULTS.udpTimeoutMs}` })
    .option('retries', { type: 'string', describe: 'UDP: resends before a request counts as timed out', defaultDescription: String(DEFAULTS.retries) })
    .group(['ratio', 'keys', 'value-size', 'preload', 'seed'], 'Workload:')
    .option('ratio', { type: 'string', describe: 'get:put:del weights', defaultDescription: DEFAULTS.ratio })
    .option('keys', { type: 'string', describe: 'Key space: keys key:0 … key:N-1, drawn uniformly', defaultDescription: String(DEFAULTS.keys) })
    .option('value-size', { type: 'string', describe: 'Bytes per PUT value', defaultDescription: String(DEFAULTS.valueSize) })
    .option('preload', { type: 'boolean', describe: 'PUT every key once before the run (not measured), so GETs hit' })
    .option('seed', { type: 'string', describe: 'Seed for operations, keys and values (same seed and threads: same requests)', defaultDescription: String(DEFAULTS.seed) })
    .group(['duration', 'requests', 'warmup', 'rate', 'stall-timeout'], 'Length and pace:')
    .option('duration', { alias: 'd', type: 'string', describe: 'Seconds measured', defaultDescription: `${DEFAULTS.durationS}, unless --requests` })
    .option('requests', { alias: 'n', type: 'string', describe: 'Operations measured, instead of --duration' })
    .option('warmup', { type: 'string', describe: 'Seconds of load before measuring', defaultDescription: String(DEFAULTS.warmupS) })
    .option('rate', { type: 'string', describe: 'Open loop: operations per second on a fixed schedule; latency counts from when each was due' })
    .option('stall-timeout', { type: 'string', default: String(DEFAULT_STALL_S), describe: 'Stop when no operation has succeeded for this many seconds (0: never)' })
    .group(['json'], 'Output:')
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object with the figures on stdout (fields: README, kv-bench)' })
    .epilog('A live progress line goes to stderr while stderr is a terminal. Exit codes: 0 done, 2 bad flags, 3 server unreachable or lost, 70 internal error.')
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parse();

  if (a._.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(String(a._[0]))}; every setting is a flag`);
  // Numbers are read as text and checked here, so that a bad one is quoted back as typed.
  const num = (name: string, v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const text = String(v).trim();
    const n = text === '' ? NaN : Number(text);
    if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number; got ${JSON.stringify(String(v))}`);
    return n;
  };
  const raw: RawOptions = {
    transport: a.transport,
    servers: serverFlags,
    host: a.host,
    port: num('port', a.port),
    connections: num('connections', a.connections),
    pipeline: num('pipeline', a.pipeline),
    inflight: num('inflight', a.inflight),
    ratio: a.ratio,
    keys: num('keys', a.keys),
    valueSize: num('value-size', a['value-size']),
    duration: num('duration', a.duration),
    requests: num('requests', a.requests),
    warmup: num('warmup', a.warmup),
    rate: num('rate', a.rate),
    seed: num('seed', a.seed),
    threads: num('threads', a.threads),
    timeout: num('timeout', a.timeout),
    retries: num('retries', a.retries),
    preload: a.preload,
  };
  const stallS = num('stall-timeout', a['stall-timeout']) ?? DEFAULT_STALL_S;
  if (!(stallS >= 0)) throw new UsageError(`--stall-timeout must be a non-negative number of seconds; got ${stallS}`);
  return { options: resolveOptions(raw), json: a.json, stallS };
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = await parseArgs(hideBin(process.argv));
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'YError')) {
      process.stderr.write(`${NAME}: ${err.message}\nRun ${NAME} --help for the flags.\n`);
      return ExitCode.USAGE;
    }
    throw err;
  }
  const { options, json, stallS } = parsed;
  const tty = process.stderr.isTTY === true;
  const bar = tty ? new ProgressLine(process.stderr, options) : null;
  const abort = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    abort.abort();
  });

  let result: BenchResult;
  try {
    result = await runBench(options, {
      onProgress: bar ? (p) => bar.update(p) : undefined,
      progressLatency: tty,
      stallMs: stallS * 1000,
      signal: abort.signal,
    });
  } catch (err) {
    bar?.clear();
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${NAME}: ${message}\n`);
    if (json) await writeOut(process.stdout, formatJson({ error: toJsonError(err) }));
    return isKvError(err) && (err.code === 'CONNECTION' || err.code === 'TIMEOUT') ? ExitCode.CONNECTION : ExitCode.INTERNAL;
  }
  bar?.clear();
  await writeOut(process.stdout, json ? formatJson(result) : formatReport(result));
  if (result.aborted) {
    if (json) process.stderr.write(`${NAME}: stopped early: ${result.aborted.message}\n`);
    return result.aborted.code === 'INTERRUPTED' ? 130 : ExitCode.CONNECTION;
  }
  return ExitCode.OK;
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`${NAME}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.INTERNAL;
});
