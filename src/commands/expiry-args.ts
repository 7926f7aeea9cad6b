import { KvError } from '../errors.js';

/**
 * Integers and expiry times as Redis 7 reads them (util.c string2ll, and expire.c /
 * t_string.c for the checks), with the same error texts. Times are milliseconds
 * since the epoch. Arithmetic is exact: short numbers (the usual case, on the SET …
 * EX path) in doubles, long ones in BigInt.
 */

const LLONG_MAX = 9223372036854775807n;
const LLONG_MIN = -9223372036854775808n;
/** Up to this many characters a decimal integer, times 1000 plus a clock reading, stays exact in a double. */
const EXACT_DIGITS = 12;

export function notInteger(): KvError {
  return new KvError('NOT_INTEGER', 'value is not an integer or out of range');
}

export function invalidExpire(command: string): KvError {
  return new KvError('INVALID_EXPIRE', `invalid expire time in '${command}' command`);
}

/** A decimal in Redis's strict form: an optional minus, no leading zeros, no plus sign or spaces. */
const STRICT_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

/** A 64-bit signed integer, or null. Returned as a bigint only when a double would not hold it exactly. */
export function parseLongLong(s: string): number | bigint | null {
  if (s.length === 0 || s.length > 20 || !STRICT_INTEGER.test(s)) return null;
  if (s.length <= 15) return Number(s);
  const b = BigInt(s);
  return b > LLONG_MAX || b < LLONG_MIN ? null : b;
}

/** The same, as a safe JS integer (for counts and versions), or null. */
export function parseSafeInteger(s: string): number | null {
  const v = parseLongLong(s);
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}

/**
 * The largest double below 2^63. Times are doubles, so one past 2^53 ms is kept to
 * the nearest double; near LLONG_MAX that rounds up to 2^63, and a reply of it
 * (PEXPIRETIME) would be out of a client's int64 range, so it stops here instead.
 */
const MAX_TIME = 2 ** 63 - 1024;

function toTime(ms: bigint): number {
  return Math.min(Number(ms), MAX_TIME);
}

/**
 * A TTL option of SET, GETEX, SETEX, PSETEX (EX/PX relative, EXAT/PXAT absolute),
 * which must be positive: the absolute expiry, or the error to answer.
 */
export function positiveExpiry(arg: string, unit: 's' | 'ms', relative: boolean, now: number, command: string): number | KvError {
  if (arg.length <= EXACT_DIGITS) {
    const v = parseLongLong(arg);
    if (v === null) return notInteger();
    const n = v as number;
    if (n <= 0) return invalidExpire(command);
    return (unit === 's' ? n * 1000 : n) + (relative ? now : 0);
  }
  const v = parseLongLong(arg);
  if (v === null) return notInteger();
  let ms = BigInt(v);
  if (ms <= 0n || (unit === 's' && ms > LLONG_MAX / 1000n)) return invalidExpire(command);
  if (unit === 's') ms *= 1000n;
  if (relative) ms += BigInt(now);
  if (ms > LLONG_MAX) return invalidExpire(command);
  return toTime(ms);
}

/**
 * The time argument of EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: any integer (a time
 * not after now deletes the key), the absolute expiry, or the error to answer.
 */
export function expireTime(arg: string, unit: 's' | 'ms', relative: boolean, now: number, command: string): number | KvError {
  const v = parseLongLong(arg);
  if (v === null) return notInteger();
  if (typeof v === 'number' && arg.length <= EXACT_DIGITS) return (unit === 's' ? v * 1000 : v) + (relative ? now : 0);
  let when = BigInt(v);
  if (unit === 's') {
    if (when > LLONG_MAX / 1000n || when < LLONG_MIN / 1000n) return invalidExpire(command);
    when *= 1000n;
  }
  if (relative) {
    if (when > LLONG_MAX - BigInt(now)) return invalidExpire(command);
    when += BigInt(now);
  }
  return toTime(when);
}
