import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import pinoRoll from 'pino-roll';
import type { ServerConfig } from './config.js';

type StdoutStream = ReturnType<typeof pretty> | ReturnType<typeof pino.destination>;

/**
 * Lines are gathered into writes of at least 16 KiB (or whatever is there after
 * half a second), so a busy server makes a few hundred write calls a second
 * instead of one per op line.
 */
const BATCHED = { sync: false, contentMode: 'buffer', minLength: 16 * 1024, maxWrite: 64 * 1024, periodicFlush: 500 } as const;

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
    ...BATCHED,
  });
  let stdout: StdoutStream | null = null;
  let destination: pino.DestinationStream;
  if (options.stdout === false) {
    destination = asBufferWriter([file]);
  } else if (process.stdout.isTTY) {
    stdout = pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    const streams: StreamEntry[] = [
      { level: 'trace', stream: asBufferWriter([file]) },
      { level: 'trace', stream: stdout },
    ];
    destination = pino.multistream(streams);
  } else {
    stdout = pino.destination({ dest: 1, ...BATCHED });
    destination = asBufferWriter([file, stdout]);
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
 * SonicBoom in its default (utf8) mode measures the byte length of its whole
 * pending buffer on every write: at tens of thousands of op lines a second that
 * scan was a third of the server's CPU (measured with node --cpu-prof). In buffer
 * mode each write costs O(1), so lines are handed over as Buffers.
 */
function asBufferWriter(streams: unknown[]): { write(line: string): boolean } {
  // SonicBoom's typings only name strings, but in buffer mode it takes Buffers.
  const sinks = streams as Array<{ write(data: Buffer): boolean }>;
  // Both plain destinations get the same bytes: one conversion per line, no multistream.
  return {
    write(line: string): boolean {
      const bytes = Buffer.from(line);
      let ok = true;
      for (const sink of sinks) ok = sink.write(bytes) && ok;
      return ok;
    },
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
