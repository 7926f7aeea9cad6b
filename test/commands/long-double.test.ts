import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addLongDouble,
  formatLongDouble,
  longDoubleFromInteger,
  MAX_LONG_DOUBLE_CHARS,
  parseLongDouble,
  type LongDouble,
} from '../../src/commands/long-double.js';

/**
 * The x87 long double INCRBYFLOAT computes in. The vectors are redis-server 7.0.15's
 * answers on x86-64 (`SET v base`, then `INCRBYFLOAT v increment`; `-` is no key);
 * test/frontends/redis-strings-differential.test.ts asks a real redis-server the
 * same and more.
 */

function incrByFloat(base: string | null, increment: string): string {
  const a = base === null ? parseLongDouble('0') : parseLongDouble(base);
  const b = parseLongDouble(increment);
  if (a === null || b === null) return 'ERR value is not a valid float';
  const sum = addLongDouble(a, b);
  return sum === null || sum.kind === 'inf' ? 'ERR increment would produce NaN or Infinity' : formatLongDouble(sum);
}

const REDIS_VECTORS: ReadonlyArray<readonly [string | null, string, string]> = [
  ['10.5', '0.1', '10.6'],
  ['5.0e3', '2.0e2', '5200'],
  // A double would print 10000000000.100000381…: the 64-bit significand keeps 30 bits more.
  ['1e10', '0.1', '10000000000.09999999962747097'],
  [null, '1e20', '100000000000000000000'],
  [null, '0x10', '16'],
  ['16', '+1.5', '17.5'],
  [null, '3.0000000000000000001', '3'],
  [null, '1e-17', '0.00000000000000001'],
  [null, '5e-18', '0'],
  [null, '2.5e-18', '0'],
  [null, '7.5e-18', '0.00000000000000001'],
  [null, '1.23456789012345678901', '1.23456789012345679'],
  [null, '123456789012345678901234567890', '123456789012345678899921813504'],
  ['0.1', '0.2', '0.3'],
  ['0.3', '0.6', '0.9'],
  ['17179869184', '1.5', '17179869185.5'],
  ['17179869184', '17179869184', '34359738368'],
  ['1', '-1.1', '-0.1'],
  [null, '1e-30', '0'],
  [null, '3.6e-4951', '0'],
  [null, '0x1.8p3', '12'],
  [null, '.5', '0.5'],
  [null, '5.', '5'],
  ['9223372036854775807', '1', '9223372036854775808'],
  ['-9223372036854775808', '-0.5', '-9223372036854775808'],
  ['1.5', '-1.5', '0'],
  ['-0', '-0', '0'],
  [null, '1.0000000000000000000000001', '1'],
  ['3.14159265358979323846', '2.71828182845904523536', '5.85987448204883847'],
  // Exactly halfway at the 17th digit: to even, as glibc's printf rounds.
  [null, '0.000003814697265625', '0.00000381469726562'],
  [null, '1e18', '1000000000000000000'],
  [null, '12345678901234567890.123', '12345678901234567890'],
  ['1e308', '1e308', '199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096'],
  // Floats Redis refuses, and results it refuses to store.
  [null, ' 1', 'ERR value is not a valid float'],
  [null, '1 ', 'ERR value is not a valid float'],
  [null, 'nan', 'ERR value is not a valid float'],
  [null, '1e5000', 'ERR value is not a valid float'],
  [null, '1e-5000', 'ERR value is not a valid float'],
  [' 11 ', '1.0', 'ERR value is not a valid float'],
  ['1\x002', '1', 'ERR value is not a valid float'],
  [null, 'inf', 'ERR increment would produce NaN or Infinity'],
  [null, 'infinity', 'ERR increment would produce NaN or Infinity'],
  [null, '1.2e4932', 'ERR value is not a valid float'],
  ['1e4932', '1e4932', 'ERR increment would produce NaN or Infinity'],
];

describe("INCRBYFLOAT's arithmetic, against redis-server 7.0's answers", () => {
  for (const [base, increment, want] of REDIS_VECTORS) {
    it(`${base === null ? '(no key)' : JSON.stringify(base)} + ${JSON.stringify(increment)} is ${want.length > 40 ? want.slice(0, 40) + '…' : want}`, () => {
      expect(incrByFloat(base, increment)).toBe(want);
    });
  }

  it('keeps a result of 4001 digits whole (1e4000 + 1e4000)', () => {
    const out = incrByFloat('1e4000', '1e4000');
    expect(out).toHaveLength(4001);
    // Redis's answer begins and ends so: the long double nearest 1e4000, doubled.
    expect(out.startsWith('1999999999999999999993092774619924756986')).toBe(true);
    expect(out.endsWith('2699802681344')).toBe(true);
  });
});

describe('parseLongDouble, as string2ld reads a string with strtold', () => {
  const accepted = ['0', '-0', '+1', '.5', '5.', '1e5', '1E+5', '1.e-3', '0x1p-2', '0X.8P1', '0x10', 'INF', '-Infinity', '00012', '1' + '0'.repeat(4000)];
  const refused = ['', ' 1', '1 ', '\t1', '1\n', 'nan', 'NaN', '-nan', 'nan(1)', 'infinit', '1e', '1e+', 'e5', '.', '-', '0x', '0x1p', '1,5', '1_000', '0b1', '1e99999', '1e-99999', '1\x002'];
  for (const s of accepted) it(`reads ${JSON.stringify(s.length > 20 ? s.slice(0, 20) + '…' : s)}`, () => expect(parseLongDouble(s)).not.toBeNull());
  for (const s of refused) it(`refuses ${JSON.stringify(s)}`, () => expect(parseLongDouble(s)).toBeNull());

  it('refuses a string of MAX_LONG_DOUBLE_CHARS or more, as string2ld (its buffer is 5 KiB)', () => {
    expect(parseLongDouble('1'.padEnd(MAX_LONG_DOUBLE_CHARS - 1, '0').replace(/^1/, '0'))).not.toBeNull();
    expect(parseLongDouble('0'.repeat(MAX_LONG_DOUBLE_CHARS))).toBeNull();
  });

  it('keeps the smallest subnormal (2^-16445, about 3.6e-4951) and refuses half of it, which is zero', () => {
    const tiny = parseLongDouble('0x1p-16445') as LongDouble;
    expect(tiny).toEqual({ kind: 'finite', neg: false, m: 1n, e: -16445 });
    expect(parseLongDouble('0x1p-16446')).toBeNull();
  });
});

describe('long double sums of integers', () => {
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

  it('are exact while they fit in 64 bits, and print as the integer', () => {
    fc.assert(
      fc.property(int64, int64, (a, b) => {
        const sum = a + b;
        fc.pre(sum > -(2n ** 64n) && sum < 2n ** 64n);
        const got = addLongDouble(longDoubleFromInteger(a), longDoubleFromInteger(b));
        expect(got === null ? null : formatLongDouble(got)).toBe(String(sum));
      }),
      { numRuns: 2000 },
    );
  });

  it('read back what they print: a printed integer is the same value again', () => {
    fc.assert(
      fc.property(int64, (a) => {
        const v = longDoubleFromInteger(a);
        expect(parseLongDouble(formatLongDouble(v))).toEqual(v);
      }),
      { numRuns: 2000 },
    );
  });

  it('are +0 for x + -x and -0 only for -0 + -0, which prints "0" either way', () => {
    const minusZero = parseLongDouble('-0') as LongDouble;
    expect(addLongDouble(parseLongDouble('-1.5') as LongDouble, parseLongDouble('1.5') as LongDouble)).toMatchObject({ neg: false, m: 0n });
    expect(addLongDouble(minusZero, minusZero)).toMatchObject({ neg: true, m: 0n });
    expect(formatLongDouble(minusZero)).toBe('0');
    expect(formatLongDouble(parseLongDouble('-1e-30') as LongDouble)).toBe('0');
  });

  it('are NaN for an infinity minus itself', () => {
    expect(addLongDouble(parseLongDouble('inf') as LongDouble, parseLongDouble('-inf') as LongDouble)).toBeNull();
  });
});
