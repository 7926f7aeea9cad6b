/**
 * The x87 80-bit `long double` that Redis's INCRBYFLOAT computes in on x86-64
 * (t_string.c incrbyfloatCommand), emulated exactly with BigInt: strtold's reading
 * of a string (util.c string2ld), one correctly rounded addition, and the
 * `%.17Lf` print with its trailing zeros trimmed (util.c ld2string, LD_STR_HUMAN).
 * A double would round differently from the 12th significant digit on
 * (1e10 + 0.1 is 10000000000.09999999962747097 in Redis, not ….10000038146972656).
 *
 * A finite value is (-1)^neg × m × 2^e with m < 2^64: a 64-bit significand with an
 * explicit integer bit, normal when m ≥ 2^63, subnormal at the lowest exponent.
 */

export type LongDouble =
  | { readonly kind: 'finite'; readonly neg: boolean; readonly m: bigint; readonly e: number }
  | { readonly kind: 'inf'; readonly neg: boolean };

/** Significand bits. */
const BITS = 64;
const TWO_63 = 1n << 63n;
const TWO_64 = 1n << 64n;
/** The exponent of a subnormal's (and the smallest normal's) lowest bit: 2^-16445 is the smallest subnormal. */
const MIN_E = -16445;
/** The largest exponent of a normal: the largest finite value is (2^64 - 1) × 2^16320. */
const MAX_E = 16320;
/** Redis's buffer for a long double in text (MAX_LONG_DOUBLE_CHARS): a longer string is no float to string2ld. */
export const MAX_LONG_DOUBLE_CHARS = 5 * 1024;
/** Decimal digits after the point that ld2string prints before trimming. */
const FRACTION_DIGITS = 17;
const FRACTION_SCALE = 10n ** BigInt(FRACTION_DIGITS);

const ZERO: LongDouble = { kind: 'finite', neg: false, m: 0n, e: 0 };

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * The long double nearest to num/den × 2^shift (num, den > 0), ties to even, as the
 * FPU in its default mode rounds: infinite past the largest finite value, subnormal
 * or zero below the smallest normal.
 */
function roundExact(neg: boolean, num: bigint, den: bigint, shift: number): LongDouble {
  // num/den lies in [2^(b-1), 2^(b+1)); aim m at [2^63, 2^65) and correct by one.
  const b = bitLength(num) - bitLength(den);
  let e = Math.max(b - BITS + shift, MIN_E);
  let [q, r, d] = divide(num, den, e - shift);
  if (q >= TWO_64) {
    e++;
    [q, r, d] = divide(num, den, e - shift);
  } else if (q < TWO_63 && e > MIN_E) {
    e--;
    [q, r, d] = divide(num, den, e - shift);
  }
  const twice = r * 2n;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
  if (q === TWO_64) {
    q = TWO_63;
    e++;
  }
  if (e > MAX_E) return { kind: 'inf', neg };
  return { kind: 'finite', neg, m: q, e: q === 0n ? 0 : e };
}

/** num/den / 2^scale as quotient, remainder and divisor. */
function divide(num: bigint, den: bigint, scale: number): [bigint, bigint, bigint] {
  const n = scale < 0 ? num << BigInt(-scale) : num;
  const d = scale > 0 ? den << BigInt(scale) : den;
  return [n / d, n % d, d];
}

const DECIMAL = /^([+-]?)(?:([0-9]+)\.?([0-9]*)|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?$/;
const HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)\.?([0-9a-fA-F]*)|\.([0-9a-fA-F]+))(?:[pP]([+-]?[0-9]+))?$/;
const INFINITY = /^([+-]?)(?:inf|infinity)$/i;
/** Past these decimal magnitudes a nonzero value overflows or rounds to zero whatever its digits (the range is 3.6e-4951 to 1.2e4932). */
const MAX_DECIMAL_MAGNITUDE = 4940;
const MIN_DECIMAL_MAGNITUDE = -4960;

/**
 * A string as Redis's string2ld reads it with strtold, or null for "not a valid
 * float": the whole string must be one number (no space before or after, nothing
 * else), decimal or C99 hex, or an infinity (which string2ld lets through); NaN, and
 * a value that overflows or underflows to zero (strtold's ERANGE), are refused.
 */
export function parseLongDouble(s: string): LongDouble | null {
  if (s.length === 0 || s.length >= MAX_LONG_DOUBLE_CHARS) return null;
  const inf = INFINITY.exec(s);
  if (inf !== null) return { kind: 'inf', neg: inf[1] === '-' };
  const dec = DECIMAL.exec(s);
  const hex = dec === null ? HEX.exec(s) : null;
  const m = dec ?? hex;
  if (m === null) return null;
  const neg = m[1] === '-';
  const whole = m[2] ?? '';
  const fraction = m[3] ?? m[4] ?? '';
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return neg ? { kind: 'finite', neg, m: 0n, e: 0 } : ZERO;
  // An exponent of many digits is clamped: past a few thousand the answer no longer depends on it.
  const exponent = Math.max(-1e6, Math.min(1e6, Number(m[5] ?? '0')));
  const value =
    dec !== null ? fromDecimal(neg, BigInt(digits), exponent - fraction.length, digits.length) : roundExact(neg, BigInt('0x' + digits), 1n, exponent - 4 * fraction.length);
  // strtold's ERANGE: an overflow (HUGE_VALL) or an underflow to zero.
  return value.kind === 'inf' || value.m === 0n ? null : value;
}

/** digits × 10^exp10, correctly rounded. */
function fromDecimal(neg: boolean, digits: bigint, exp10: number, length: number): LongDouble {
  const magnitude = length + exp10;
  if (magnitude > MAX_DECIMAL_MAGNITUDE) return { kind: 'inf', neg };
  if (magnitude < MIN_DECIMAL_MAGNITUDE) return { kind: 'finite', neg, m: 0n, e: 0 };
  return exp10 >= 0 ? roundExact(neg, digits * 10n ** BigInt(exp10), 1n, 0) : roundExact(neg, digits, 10n ** BigInt(-exp10), 0);
}

/** A 64-bit integer as a long double: exact, as Redis's (long double)(long)o->ptr. */
export function longDoubleFromInteger(n: bigint): LongDouble {
  if (n === 0n) return ZERO;
  return roundExact(n < 0n, n < 0n ? -n : n, 1n, 0);
}

/** a + b, rounded once; null for NaN (an infinity minus itself). */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (a.kind === 'inf' || b.kind === 'inf') {
    if (a.kind === 'inf' && b.kind === 'inf' && a.neg !== b.neg) return null;
    return a.kind === 'inf' ? a : b;
  }
  const e = Math.min(a.e, b.e);
  const x = (a.m << BigInt(a.e - e)) * (a.neg ? -1n : 1n);
  const y = (b.m << BigInt(b.e - e)) * (b.neg ? -1n : 1n);
  const sum = x + y;
  // An exact zero is +0 in round-to-nearest, unless both were -0.
  if (sum === 0n) return { kind: 'finite', neg: a.neg && b.neg, m: 0n, e: 0 };
  const neg = sum < 0n;
  return roundExact(neg, neg ? -sum : sum, 1n, e);
}

/**
 * The value as Redis stores an INCRBYFLOAT result (ld2string, LD_STR_HUMAN):
 * `%.17Lf` (exactly rounded, ties to even, as glibc prints), then trailing zeros
 * after the point and a bare point trimmed, and "-0" made "0". No exponent, ever.
 */
export function formatLongDouble(v: LongDouble): string {
  if (v.kind === 'inf') return v.neg ? '-inf' : 'inf';
  let digits: string;
  if (v.e >= 0) {
    digits = (v.m << BigInt(v.e)).toString() + '0'.repeat(FRACTION_DIGITS);
  } else {
    const den = 1n << BigInt(-v.e);
    const scaled = v.m * FRACTION_SCALE;
    let q = scaled / den;
    const twice = (scaled % den) * 2n;
    if (twice > den || (twice === den && (q & 1n) === 1n)) q++;
    digits = q.toString().padStart(FRACTION_DIGITS + 1, '0');
  }
  const whole = digits.slice(0, -FRACTION_DIGITS);
  const fraction = digits.slice(-FRACTION_DIGITS).replace(/0+$/, '');
  const out = (v.neg ? '-' : '') + whole + (fraction === '' ? '' : '.' + fraction);
  return out === '-0' ? '0' : out;
}
