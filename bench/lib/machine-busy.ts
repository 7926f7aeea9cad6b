/**
 * How busy the whole machine was, from /proc/stat (Linux): with our own processes'
 * CPU taken off, what other work on a shared machine took from the servers.
 */
import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface CpuTicks {
  readonly busy: number;
  readonly total: number;
}

/** The first line of /proc/stat as ticks busy and in all; idle and iowait are not busy (steal is). */
export function parseCpuLine(line: string): CpuTicks | null {
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu') return null;
  const n = fields.slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
  if (n.length < 8 || n.some((x) => !Number.isFinite(x))) return null;
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - (n[3] ?? 0) - (n[4] ?? 0), total };
}

export function machineTicks(): CpuTicks | null {
  try {
    return parseCpuLine(readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '');
  } catch {
    return null;
  }
}

/** The machine's busy time between two readings, in percent of one core (2 cores: 0–200%); NaN if unknown. */
export function busyPercentOfCore(before: CpuTicks | null, after: CpuTicks | null, cores = os.cpus().length): number {
  if (before === null || after === null || after.total <= before.total) return NaN;
  return (100 * cores * (after.busy - before.busy)) / (after.total - before.total);
}
