import type { Argv } from 'yargs';
import { isKvError } from '../../src/errors.js';

/**
 * Exit codes shared by the dualkv CLIs (kv-tcp, kv-udp), so scripts can tell
 * the outcomes apart without reading stderr.
 */
export const ExitCode = {
  /** The command did what was asked. */
  OK: 0,
  /** GET or DEL of a key that does not exist. */
  NOT_FOUND: 1,
  /** A compare-and-set (kv-udp cas, cad) that found another version: as with NOT_FOUND, the condition was not met. */
  CONFLICT: 1,
  /** Bad flags or arguments; nothing was sent. */
  USAGE: 2,
  /** Could not connect, the connection dropped, or no reply came in time. */
  CONNECTION: 3,
  /** The server answered with an error, or with bytes the client cannot read. */
  SERVER: 4,
  /**
   * kv-tcp: the connection was lost (or the reply was overdue) after a write was sent,
   * so it may or may not have been applied. It was not resent; read the key to find out.
   */
  IN_DOUBT: 5,
  /** A bug in the CLI itself (sysexits.h EX_SOFTWARE); please report it. */
  INTERNAL: 70,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake on the command line: reported with a hint to --help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error, by its stable code (never by its message). */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (!isKvError(err)) return ExitCode.INTERNAL;
  switch (err.code) {
    case 'CONNECTION':
    case 'TIMEOUT':
      return ExitCode.CONNECTION;
    case 'IN_DOUBT':
      return ExitCode.IN_DOUBT;
    default:
      // SERVER (error replies), PROTOCOL (unreadable replies) and the server's own codes.
      return ExitCode.SERVER;
  }
}

/**
 * What every dualkv client CLI shares: unknown flags are errors, `-h`/`--help`, no
 * `--version`, output as wide as the terminal, and a usage problem reported as a
 * UsageError (exit 2) after `clean` tidies yargs' message.
 */
export function withCliDefaults<T>(y: Argv<T>, clean: (msg: string) => string = (m) => m): Argv<T> {
  return y
    .strict()
    .version(false)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(clean(msg));
    });
}
