import { fstatSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import pinoRoll from 'pino-roll';
import type { ServerConfig } from './config.js';

type StdoutStream = ReturnType<typeof pretty> | ReturnType<typeof pino.destination>;

/**
 * The files' and stdout's own streams: asynchronous, and writing whatever they are
 * handed at once. Batching happens before them, in LineBatcher.
 */
const STREAM = { sync: false, contentMode: 'buffer', minLength: 0 } as const;
/** A batch is written once its chunk of this many bytes is full... */
const BATCH_BYTES = 64 * 1024;
/** ...or when this many ms have passed, so that a quiet server's lines still appear promptly. */
const BATCH_FLUSH_MS = 100;

export interface RootLogger {
  readonly log: Logger;
  /** Writes out what is buffered and closes the files. */
  close(): Promise<void>;
}

/**
 * The one root logger, created at start and passed down. Lines go to a rotated
 * JSON-lines file in --log-dir and to stdout (pretty when stdout is a terminal).
 *
 * Both destinations are asynchronous SonicBoom streams: a line is formatted on the
 * main thread and the disk write happens in the background, so logging never waits
 * on the disk.
 */
export async function createRootLogger(
  config: Pick<ServerConfig, 'logDir' | 'logLevel' | 'logMaxSize' | 'logFiles'>,
  options: { stdout?: boolean } = {},
): Promise<RootLogger> {
  mkdirSync(config.logDir, { recursive: true });
  const file = await pinoRoll({
    file: path.join(config.logDir, 'dualkv'),
    extension: '.log',
    size: `${Math.max(1, Math.round(config.logMaxSize / 1024))}k`,
    limit: { count: config.logFiles, removeOtherLogFiles: true },
    symlink: true,
    mkdir: true,
    ...STREAM,
  });
  let stdout: StdoutStream | null = null;
  let destination: pino.DestinationStream;
  let batcher: LineBatcher;
  if (options.stdout === false || stdoutIsDevNull()) {
    destination = batcher = new LineBatcher([file]);
  } else if (process.stdout.isTTY) {
    stdout = pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    batcher = new LineBatcher([file]);
    const streams: StreamEntry[] = [
      { level: 'trace', stream: batcher },
      { level: 'trace', stream: stdout },
    ];
    destination = pino.multistream(streams);
  } else {
    stdout = pino.destination({ dest: 1, ...STREAM });
    destination = batcher = new LineBatcher([file, stdout]);
  }
  const log = pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      timestamp: isoTimeCached,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    log,
    close: () =>
      new Promise<void>((resolve) => {
        const done = () => resolve();
        try {
          batcher.close();
          file.flushSync();
          if (stdout && 'flushSync' in stdout) stdout.flushSync();
        } catch {
          // A log flush failing at exit must not stop the exit.
        }
        file.once('close', done);
        file.once('error', done);
        file.end();
      }),
  };
}

/**
 * True when stdout is /dev/null (a service manager's StandardOutput=null,
 * `> /dev/null`, a spawner's stdio 'ignore'): lines are then not written there
 * at all, which saves a write per batch.
 */
function stdoutIsDevNull(): boolean {
  try {
    const out = fstatSync(1);
    const devNull = statSync('/dev/null');
    return out.isCharacterDevice() && out.rdev === devNull.rdev;
  } catch {
    return false;
  }
}

/** What LineBatcher hands its lines to: SonicBoom streams in buffer mode. */
interface ByteSink {
  write(data: Buffer): boolean;
  flush(cb: (err?: Error | null) => void): void;
}

/**
 * Encodes log lines one after another into a 64 KiB chunk and hands each
 * destination the whole chunk (hot path: one op line per request). Handing
 * over each line on its own (a Buffer per line, queued per destination, joined
 * again by SonicBoom) cost about 1 µs a line, a large part of what logging every
 * op costs (node --cpu-prof under bench/udp-vs-memcached.ts). Gathering lines
 * into one string first is no better: the long rope is slow to flatten.
 * SonicBoom's default utf8 mode is no way out either: it measures the byte
 * length of its whole pending buffer on every write.
 */
export class LineBatcher {
  private chunk = Buffer.allocUnsafe(BATCH_BYTES);
  /** Bytes of `chunk` written so far. */
  used = 0;
  private readonly sinks: ByteSink[];
  private readonly timer: NodeJS.Timeout;

  constructor(streams: unknown[]) {
    // SonicBoom's typings only name strings, but in buffer mode it takes Buffers.
    this.sinks = streams as ByteSink[];
    this.timer = setInterval(() => this.flush(), BATCH_FLUSH_MS);
    this.timer.unref();
  }

  write(line: string): boolean {
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    if (this.used + line.length * 3 > this.chunk.length) {
      this.flush();
      if (line.length * 3 > this.chunk.length) {
        // A line bigger than a chunk (a long error) goes on its own.
        this.handOver(Buffer.from(line));
        return true;
      }
    }
    this.used += this.chunk.write(line, this.used);
    return true;
  }

  /**
   * The chunk, with room for `bytes` more at `used` (a full chunk is handed over
   * first). The caller writes there and then moves `used` past what it wrote:
   * op-log.ts writes op lines byte by byte this way, with no string to flatten.
   */
  reserve(bytes: number): Buffer {
    if (this.used + bytes > this.chunk.length) {
      this.flush();
      if (bytes > this.chunk.length) this.chunk = Buffer.allocUnsafe(bytes);
    }
    return this.chunk;
  }

  /**
   * Hands what is gathered to the destinations, which write it asynchronously.
   * pino's logger.flush(cb) lands here: `cb` runs once they have written it.
   */
  flush(cb?: (err?: Error) => void): void {
    if (this.used > 0) {
      const bytes = this.chunk.subarray(0, this.used);
      // The destinations keep the chunk until written: lines go on in a new one.
      this.chunk = Buffer.allocUnsafe(BATCH_BYTES);
      this.used = 0;
      this.handOver(bytes);
    }
    if (cb === undefined) return;
    let left = this.sinks.length;
    let failed: Error | undefined;
    const done = (err?: Error | null) => {
      failed ??= err ?? undefined;
      if (--left === 0) cb(failed);
    };
    for (const sink of this.sinks) sink.flush(done);
  }

  private handOver(bytes: Buffer): void {
    for (const sink of this.sinks) sink.write(bytes);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
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
