import { ConfigError } from './errors.js';

/**
 * Byte sizes as Redis's config reads them (memtoull): a whole number, optionally
 * followed by a unit, case-insensitive. `k`, `m`, `g` are powers of 1000 and
 * `kb`, `mb`, `gb` powers of 1024, so `64mb` is 67108864 and `1k` is 1000.
 */
const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1024,
  m: 1000 ** 2,
  mb: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1024 ** 3,
};

/** Parses `v` (a number, or a string such as `64mb`); null when it is not a size. */
export function parseSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d{1,16})\s*([a-z]{0,2})\s*$/i.exec(v);
  if (m === null) return null;
  const unit = UNITS[(m[2] as string).toLowerCase()];
  if (unit === undefined) return null;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : null;
}

/** A size flag, checked: a ConfigError for the user when it is not a size within [min, max]. */
export function sizeFlag(name: string, v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER, also = ''): number {
  const n = parseSize(v);
  if (n === null || n < min || n > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? (min > 0 ? ` of at least ${formatSize(min)}` : '') : ` from ${formatSize(min)} to ${formatSize(max)}`;
    throw new ConfigError(
      `--${name} must be a size${range}${also}, in bytes or with a unit (kb, mb, gb: powers of 1024; k, m, g: of 1000); got ${String(v)}`,
    );
  }
  return n;
}

/** A size for people: `64mb`, `1.5gb`, `512b`. */
export function formatSize(n: number): string {
  for (const [unit, f] of [['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]] as const) {
    if (n >= f) return `${Number((n / f).toFixed(n % f === 0 ? 0 : 1))}${unit}`;
  }
  return `${n}b`;
}
