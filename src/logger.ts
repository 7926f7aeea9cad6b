import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import pinoRoll from 'pino-roll';
import type { ServerConfig } from './config.js';

type StdoutStream = ReturnType<typeof pretty> | ReturnType<typeof pino.destination>;

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
    sync: false,
  });
  const streams: StreamEntry[] = [{ level: 'trace', stream: file }];
  let stdout: StdoutStream | null = null;
  if (options.stdout !== false) {
    stdout = process.stdout.isTTY
      ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
      : pino.destination({ dest: 1, sync: false });
    streams.push({ level: 'trace', stream: stdout });
  }
  const log = pino(
    {
      level: config.logLevel,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream(streams),
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
