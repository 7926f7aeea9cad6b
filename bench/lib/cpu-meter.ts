/**
 * Where the CPU went during one measured run (Linux /proc): the benchmark's own
 * processes by name, and the rest of the machine's busy time, which on a shared
 * machine is other people's work taken from the servers.
 */
import { readFileSync } from 'node:fs';
import { busyPercentOfCore, machineTicks } from './machine-busy.js';
import { processCpuMs } from './procs.js';

/** What a run's CPU was spent on, in percent of one core (two cores: up to 200%). */
export interface CpuShare {
  /** Each named group of processes, with `this process` (the load generator) and `reaped children` (e.g. redis-benchmark) added. */
  readonly byName: ReadonlyArray<readonly [string, number]>;
  /** Busy time of the whole machine less everything in byName: other processes. */
  readonly others: number;
  readonly machine: number;
}

/** CPU time, in ms, of the children this process has waited for (/proc/self/stat cutime + cstime). */
export function reapedChildrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10; // cutime, cstime: fields 16 and 17
  } catch {
    return NaN;
  }
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Starts measuring `groups` (a name and the pids it covers); the function returned ends the
 * measurement and answers the shares. Pids are read at the start: restart nothing in between.
 */
export function startCpuMeter(groups: ReadonlyArray<readonly [string, readonly number[]]>): () => CpuShare {
  const t0 = performance.now();
  const machine0 = machineTicks();
  const self0 = selfCpuMs();
  const reaped0 = reapedChildrenCpuMs();
  const group0 = groups.map(([, pids]) => pids.map(processCpuMs));
  return () => {
    const wallMs = performance.now() - t0;
    const pct = (ms: number) => (100 * ms) / wallMs;
    const byName: Array<[string, number]> = groups.map(([name, pids], g) => [
      name,
      pct(pids.reduce((sum, pid, i) => sum + (processCpuMs(pid) - (group0[g]?.[i] ?? NaN)), 0)),
    ]);
    byName.push(['this process (load)', pct(selfCpuMs() - self0)]);
    const reaped = pct(reapedChildrenCpuMs() - reaped0);
    if (reaped > 0) byName.push(['reaped children (redis-benchmark)', reaped]);
    const machine = busyPercentOfCore(machine0, machineTicks());
    const ours = byName.reduce((sum, [, p]) => sum + (Number.isNaN(p) ? 0 : p), 0);
    return { byName, machine, others: Math.max(0, machine - ours) };
  };
}

/** A share as one line: `etcd 3 members 61%, gateway 1 48%, …, others 12% (machine 190% of 200%)`. */
export function describeCpuShare(s: CpuShare, cores: number): string {
  const parts = s.byName.map(([name, p]) => `${name} ${Number.isNaN(p) ? '?' : p.toFixed(0)}%`);
  return `${parts.join(', ')}, other processes ${s.others.toFixed(0)}% (machine busy ${Number.isNaN(s.machine) ? '?' : s.machine.toFixed(0)}% of ${cores * 100}%)`;
}
