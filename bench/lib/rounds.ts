/** The arithmetic of interleaved rounds, shared by the benchmarks that compare servers. */

/** The median of the numbers that are not NaN (the upper one of an even count); NaN if none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/**
 * The order in which round `round` visits `count` servers: each one starts a
 * round in turn, so that a slow patch of a shared machine is not always the same server's.
 */
export function visitOrder(count: number, round: number): number[] {
  return Array.from({ length: count }, (_, i) => (round + i) % count);
}
