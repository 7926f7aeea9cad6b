import { UsageError } from './cli-exit-codes.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time to live as typed on a command line, `500ms`, `10s`, `1.5m`, `2h` or `7d`,
 * in whole milliseconds. The unit is required: a bare `10` would be seconds to a
 * Redis user and milliseconds to a PX user, and a TTL off by 1000 goes unnoticed.
 */
export function parseDuration(raw: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw.trim());
  const ms = m ? Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number)) : NaN;
  if (!Number.isSafeInteger(ms)) {
    throw new UsageError(`${what} must be a number with a unit, ms, s, m, h or d (e.g. 500ms, 10s, 2h); got ${JSON.stringify(raw)}`);
  }
  return ms;
}
