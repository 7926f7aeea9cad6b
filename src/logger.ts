import { isatty } from 'node:tty';
import pino, { type Logger } from 'pino';
import type { ServerConfig } from './config.js';
import { LineBatcher } from './line-batcher.js';
import { LogDestination, type DestinationEvents } from './log-destination.js';
import { RotatingLogFile } from './log-file.js';
import { openStdoutWriter } from './log-stdout.js';

/** How long close() at shutdown may spend writing out what is left before it drops it. */
export const LOG_CLOSE_MS = 1000;
/** Warnings about dropped lines: at most one per this many ms. */
const DROP_WARN_MS = 1000;

/** The logging counters, for INFO's logging section: totals, then each destination's own. */
export type LogStats = Record<string, number>;

export interface RootLogger {
  readonly log: Logger;
  stats(): LogStats;
  /** Bytes waiting to be written, over every destination (O(1): the memory limit counts it on each write). */
  backlogBytes(): number;
  /** Writes out what is buffered, for at most `timeoutMs`, and closes the files. Safe to call twice. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The one root logger, created at start and passed down. Lines go to a rotated
 * JSON-lines file in --log-dir and to stdout (pretty when stdout is a terminal).
 *
 * Lines are gathered into chunks (LineBatcher) and each destination writes them
 * in the background with a backlog bounded by --log-max-backlog: a destination
 * that cannot keep up, or fails, loses whole chunks, counted in stats() and
 * warned about, and the server goes on serving.
 */
export async function createRootLogger(
  config: Pick<ServerConfig, 'logDir' | 'logLevel' | 'logMaxSize' | 'logFiles' | 'logMaxBacklog'>,
  options: { stdout?: boolean } = {},
): Promise<RootLogger> {
  const events = new LogEvents();
  const file = RotatingLogFile.openSync(config.logDir, config.logMaxSize, config.logFiles);
  const dests = [new LogDestination('file', file, config.logMaxBacklog, events)];
  const stdout = options.stdout === false ? null : openStdoutWriter();
  if (stdout !== null) {
    dests.push(new LogDestination('stdout', stdout, config.logMaxBacklog, events, isatty(1) ? await prettyChunk() : undefined));
  }
  const batcher = new LineBatcher(dests);
  const log = pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      timestamp: isoTimeCached,
      formatters: { level: (label) => ({ level: label }) },
    },
    batcher,
  );
  events.log = log;
  let closing: Promise<void> | null = null;
  return {
    log,
    stats: () => logStats(dests, file.rotations),
    backlogBytes: () => {
      let n = 0;
      for (const d of dests) n += d.backlogBytes;
      return n;
    },
    close: (timeoutMs = LOG_CLOSE_MS) =>
      (closing ??= (async () => {
        // The last warning goes into the last batch.
        events.close();
        batcher.close();
        await Promise.all(dests.map((d) => d.close(timeoutMs)));
      })()),
  };
}

function logStats(dests: readonly LogDestination[], rotations: number): LogStats {
  const sum = (f: (d: LogDestination) => number) => dests.reduce((n, d) => n + f(d), 0);
  const out: LogStats = {
    log_lines_dropped: sum((d) => d.linesDropped),
    log_write_errors: sum((d) => d.writeErrors),
    log_backlog_bytes: sum((d) => d.backlogBytes),
  };
  for (const d of dests) {
    out[`log_${d.name}_lines_written`] = d.linesWritten;
    out[`log_${d.name}_lines_dropped`] = d.linesDropped;
    out[`log_${d.name}_write_errors`] = d.writeErrors;
    out[`log_${d.name}_backlog_bytes`] = d.backlogBytes;
    out[`log_${d.name}_failing`] = d.isFailing ? 1 : 0;
  }
  out.log_file_rotations = rotations;
  return out;
}

/**
 * Turns the destinations' events into log lines, which still reach the other
 * destination: a warning when one fails (and, the first time, a line on stderr,
 * for a server whose stdout goes nowhere), one when it recovers, and at most one
 * a second saying how many lines were dropped.
 */
class LogEvents implements DestinationEvents {
  log: Logger | null = null;
  private readonly pending = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private lastWarn = 0;
  private closed = false;
  private readonly toldStderr = new Set<string>();

  dropped(dest: LogDestination, lines: number): void {
    if (this.closed) return;
    this.pending.set(dest.name, (this.pending.get(dest.name) ?? 0) + lines);
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.report(), Math.max(0, this.lastWarn + DROP_WARN_MS - Date.now()));
    this.timer.unref();
  }

  failed(dest: LogDestination, err: Error): void {
    if (this.closed) return;
    const code = (err as NodeJS.ErrnoException).code;
    this.log?.warn(
      { destination: dest.name, err: { code, message: err.message } },
      `log ${dest.name} write failed; its lines are dropped and counted until a retry (every second) succeeds`,
    );
    if (!this.toldStderr.has(dest.name)) {
      this.toldStderr.add(dest.name);
      process.stderr.write(`kv-server: writing the log ${dest.name} failed (${err.message}); its lines are dropped and counted (INFO logging) until it recovers\n`);
    }
  }

  recovered(dest: LogDestination): void {
    if (this.closed) return;
    this.log?.info({ destination: dest.name, dropped: dest.linesDropped }, `log ${dest.name} writes again`);
  }

  /** Reports what is pending now, and nothing after. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.pending.size > 0) this.report();
    this.closed = true;
  }

  private report(): void {
    this.timer = null;
    this.lastWarn = Date.now();
    const dropped = Object.fromEntries(this.pending);
    this.pending.clear();
    this.log?.warn({ dropped }, `log lines dropped: ${Object.keys(dropped).join(' and ')} cannot keep up (see log_lines_dropped in INFO logging)`);
  }
}

/**
 * stdout on a terminal: each chunk pretty-printed as the destination accepts it, so dropped
 * lines cost no formatting. pino-pretty is loaded only then: a server whose stdout is a pipe
 * or a file (a service, a container) starts without it.
 */
export async function prettyChunk(): Promise<(chunk: Buffer) => Buffer> {
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return (chunk) => {
    let out = '';
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out += pretty(line);
    return Buffer.from(out);
  };
}

let lastMs = 0;
let lastStamp = '';

/**
 * pino's isoTime formats a new Date for every line; under load many lines share a
 * millisecond, so the formatted stamp is reused within one (hot path: every op).
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastStamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastStamp;
}
