#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode, UsageError, withCliDefaults } from './lib/cli-exit-codes.js';
import { writeOut } from './lib/cli-output.js';
import { startChaosProxy, type ChaosEvent, type ChaosStats, type DirectionStats } from './lib/chaos-proxy.js';

const NAME = 'kv-chaos';

function num(raw: unknown, what: string, min: number, max: number, whole = false): number {
  const s = String(raw).trim();
  const n = /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) {
    throw new UsageError(`${what} must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}; got ${JSON.stringify(String(raw))}`);
  }
  return n;
}

const COUNTERS = ['forwarded', 'dropped', 'corrupted', 'duplicated', 'reordered', 'delayed'] as const;

function line(d: DirectionStats): string {
  return `received=${d.received} ${COUNTERS.map((k) => `${k}=${d[k]}`).join(' ')}`;
}

function summary(label: string, s: ChaosStats, json: boolean): string {
  if (json) return JSON.stringify({ event: label, toServer: s.toServer, toClient: s.toClient, clients: s.sessions }) + '\n';
  return `${NAME}: ${label}: to server: ${line(s.toServer)}; to clients: ${line(s.toClient)}; clients=${s.sessions}\n`;
}

function describe(e: ChaosEvent, json: boolean): string {
  if (json) return JSON.stringify({ event: 'datagram', ...e }) + '\n';
  return `${NAME}: ${e.direction === 'toServer' ? `${e.client} -> server` : `server -> ${e.client}`} ${e.size} bytes: ${e.actions.join(', ')}\n`;
}

async function main(): Promise<number> {
  let a;
  try {
    a = await withCliDefaults(
      yargs(hideBin(process.argv))
        .scriptName(NAME)
        .usage(
          '$0 --target-host HOST --target-port PORT [options]\n\nA UDP proxy that damages traffic on purpose, to test clients and servers: it drops, corrupts\n' +
            '(flips 1 to 3 bits anywhere in the datagram), duplicates, reorders and delays datagrams in both directions.\n' +
            'Point clients at the listen address; each client gets its own upstream socket to the target.',
        )
        .parserConfiguration({ 'parse-numbers': false, 'parse-positional-numbers': false })
        .option('target-host', { type: 'string', demandOption: true, describe: 'Address of the UDP server to forward to' })
        .option('target-port', { type: 'string', demandOption: true, describe: 'Its port' })
        .option('also-target-port', { type: 'string', array: true, describe: 'More servers on --target-host (gateways): datagrams go to each port in turn, from the one socket per client' })
        .option('listen-host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on' })
        .option('listen-port', { type: 'string', default: '0', describe: 'Port to listen on (0: a free port, printed at start)' })
        .option('drop', { type: 'string', default: '0', describe: 'Probability (0..1) that a datagram is dropped' })
        .option('corrupt', { type: 'string', default: '0', describe: 'Probability that a datagram has bits flipped' })
        .option('duplicate', { type: 'string', default: '0', describe: 'Probability that a datagram is sent twice' })
        .option('reorder', { type: 'string', default: '0', describe: 'Probability that a datagram is held back until the next one has passed' })
        .option('delay-ms', { type: 'string', default: '0', describe: 'Each datagram waits a random 0..N ms more' })
        .option('seed', { type: 'string', describe: 'Seed for the random choices (default: random, printed at start), to repeat a run' })
        .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'One line per datagram: what was done to it' })
        .option('interval', { type: 'string', default: '5', describe: 'Seconds between summary lines (0: only the final one)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON lines instead of text' })
        .example('$0 --target-host 127.0.0.1 --target-port 7379 --listen-port 7380 --drop 0.2 --corrupt 0.05', 'then: kv-udp --port 7380 get k')
        .epilogue('Rates apply independently to each datagram, in each direction. A final summary is printed on SIGINT or SIGTERM.'),
      ).parseAsync();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await writeOut(process.stderr, `${NAME}: ${err.message}\nRun '${NAME} --help' for the options.\n`);
    return ExitCode.USAGE;
  }
  let options;
  try {
    options = {
      targetHost: a['target-host'],
      targetPort: num(a['target-port'], '--target-port', 1, 65535, true),
      alsoTargetPorts: (a['also-target-port'] ?? []).map((v) => num(v, '--also-target-port', 1, 65535, true)),
      listenHost: a['listen-host'],
      listenPort: num(a['listen-port'], '--listen-port', 0, 65535, true),
      drop: num(a.drop, '--drop', 0, 1),
      corrupt: num(a.corrupt, '--corrupt', 0, 1),
      duplicate: num(a.duplicate, '--duplicate', 0, 1),
      reorder: num(a.reorder, '--reorder', 0, 1),
      delayMs: num(a['delay-ms'], '--delay-ms', 0, 60_000),
      seed: a.seed === undefined ? undefined : num(a.seed, '--seed', 0, 2 ** 32 - 1, true),
      onEvent: a.verbose ? (e: ChaosEvent) => process.stdout.write(describe(e, a.json)) : undefined,
    };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    await writeOut(process.stderr, `${NAME}: ${err.message}\n`);
    return ExitCode.USAGE;
  }
  const interval = num(a.interval, '--interval', 0, 86_400);
  let proxy;
  try {
    proxy = await startChaosProxy(options);
  } catch (err) {
    await writeOut(process.stderr, `${NAME}: cannot start: ${(err as Error).message}\n`);
    return ExitCode.CONNECTION;
  }
  const p = proxy;
  await writeOut(process.stdout, `${NAME} listening on ${p.host}:${p.port} -> ${p.target}\n`);
  await writeOut(
    process.stdout,
    a.json
      ? JSON.stringify({ event: 'config', seed: p.seed, drop: options.drop, corrupt: options.corrupt, duplicate: options.duplicate, reorder: options.reorder, delayMs: options.delayMs }) + '\n'
      : `${NAME}: seed=${p.seed} drop=${options.drop} corrupt=${options.corrupt} duplicate=${options.duplicate} reorder=${options.reorder} delay-ms=${options.delayMs}\n`,
  );
  let last = JSON.stringify([p.stats().toServer, p.stats().toClient]);
  const timer =
    interval > 0
      ? setInterval(() => {
          const s = p.stats();
          const now = JSON.stringify([s.toServer, s.toClient]);
          if (now !== last) process.stdout.write(summary('so far', s, a.json));
          last = now;
        }, interval * 1000)
      : null;
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (timer) clearInterval(timer);
      const final = p.stats();
      void p.close().then(async () => {
        await writeOut(process.stdout, summary(`final (${signal})`, final, a.json));
        resolve(ExitCode.OK);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

process.exitCode = await main().catch(async (err: unknown) => {
  await writeOut(process.stderr, `${NAME}: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.INTERNAL;
});
