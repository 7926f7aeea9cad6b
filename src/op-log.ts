import pino, { type Logger } from 'pino';
import { LineBatcher } from './logger.js';

/** The outcome field of an op line. */
export type OpOutcome = 'ok' | 'not_found' | 'error';

/**
 * Writes the op line, one per command (docs: README "Logs"). Fields are written
 * in this order and left out when undefined, as pino does.
 */
export interface OpLog {
  /** `direct`: formatted here into the server's LineBatcher; `pino`: through the logger. */
  readonly kind: 'direct' | 'pino';
  write(cmd: string, key: string | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number): void;
}

/**
 * The op log for a session's child logger (its bindings, such as transport and
 * client, are in every line), or null when op lines are not logged at all (the
 * logger's level is above info).
 *
 * When the logger writes to the server's own LineBatcher (logger.ts), op lines
 * are formatted here into the same line pino writes for that logger: its
 * level text, time function and bindings are read once, from pino's exported
 * symbols. That is the hot path: a line per request. pino's generic
 * serialiser (a loop over the object's keys, a type switch and an escape check
 * for each value) cost about a microsecond a line, a large part of the price of
 * logging every op (node --cpu-prof under bench/udp-vs-memcached.ts).
 * test/op-log.test.ts holds the two outputs equal.
 *
 * Any other destination (pino-pretty on a terminal, a test's capture) gets the
 * line through pino itself.
 */
export function createOpLog(log: Logger): OpLog | null {
  if (!log.isLevelEnabled('info')) return null;
  const internals = log as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym];
  if (stream instanceof LineBatcher) {
    const levelText = (internals[pino.symbols.lsCacheSym] as Record<number, string>)[log.levels.values.info as number];
    const time = internals[pino.symbols.timeSym] as () => string;
    const bindings = internals[pino.symbols.chindingsSym] as string;
    const messageKey = internals[pino.symbols.messageKeySym] as string;
    if (typeof levelText === 'string' && typeof time === 'function' && typeof bindings === 'string' && typeof messageKey === 'string') {
      return new FastOpLog(stream, levelText, time, bindings, `,${jsonString(messageKey)}:"op"}\n`);
    }
  }
  return new PinoOpLog(log);
}

class PinoOpLog implements OpLog {
  readonly kind = 'pino';

  constructor(private readonly log: Logger) {}

  write(cmd: string, key: string | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number): void {
    this.log.info({ cmd, key, vsize, outcome, err, us }, 'op');
  }
}

class FastOpLog implements OpLog {
  readonly kind = 'direct';

  constructor(
    private readonly stream: LineBatcher,
    private readonly levelText: string,
    private readonly time: () => string,
    private readonly bindings: string,
    private readonly tail: string,
  ) {}

  write(cmd: string, key: string | undefined, vsize: number | undefined, outcome: OpOutcome, err: string | undefined, us: number): void {
    let line = `${this.levelText}${this.time()}${this.bindings},"cmd":${jsonString(cmd)}`;
    if (key !== undefined) line += `,"key":${jsonString(key)}`;
    if (vsize !== undefined) line += `,"vsize":${vsize}`;
    line += `,"outcome":"${outcome}"`;
    if (err !== undefined) line += `,"err":${jsonString(err)}`;
    this.stream.write(`${line},"us":${us}${this.tail}`);
  }
}

/**
 * A JSON string literal. Keys and command names in op lines are short and
 * printable ASCII (describeKey), so they are checked char by char (cheaper than
 * a regular expression at these lengths) and quoted as they are.
 */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s);
  }
  return `"${s}"`;
}
