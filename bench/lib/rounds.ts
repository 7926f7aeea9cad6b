import { cpuTimes, loadAverage, stealPercent } from './procs.js';

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

/**
 * Runs `count` rounds one after another (each announced on stderr) and answers their
 * results, with the steal over all of them and the load average before.
 */
export async function runRounds<R>(count: number, measure: (round: number) => Promise<R>): Promise<{ rounds: R[]; totalSteal: number | null; loadBefore: number }> {
  const loadBefore = loadAverage();
  const cpuBefore = cpuTimes();
  const rounds: R[] = [];
  for (let round = 0; round < count; round++) {
    console.error(`round ${round + 1}/${count} …`);
    rounds.push(await measure(round));
  }
  return { rounds, totalSteal: stealPercent(cpuBefore, cpuTimes()), loadBefore };
}
