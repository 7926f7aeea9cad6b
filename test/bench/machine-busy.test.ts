import { describe, expect, it } from 'vitest';
import { busyPercentOfCore, parseCpuLine } from '../../bench/lib/machine-busy.js';

describe("the machine's busy time", () => {
  it('counts every /proc/stat field but idle and iowait as busy, steal included', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    expect(parseCpuLine('cpu  100 5 50 800 20 3 2 10 0 0')).toEqual({ busy: 170, total: 990 });
  });

  it('reads only the all-CPU line', () => {
    expect(parseCpuLine('cpu0 100 5 50 800 20 3 2 10 0 0')).toBeNull();
    expect(parseCpuLine('cpu 1 2')).toBeNull();
  });

  it('is a percent of one core: both of 2 cores busy is 200%', () => {
    expect(busyPercentOfCore({ busy: 0, total: 0 }, { busy: 100, total: 100 }, 2)).toBe(200);
    expect(busyPercentOfCore({ busy: 0, total: 0 }, { busy: 25, total: 100 }, 2)).toBe(50);
  });

  it('is unknown without two readings that moved', () => {
    expect(busyPercentOfCore(null, { busy: 1, total: 1 }, 2)).toBeNaN();
    expect(busyPercentOfCore({ busy: 1, total: 5 }, { busy: 1, total: 5 }, 2)).toBeNaN();
  });
});
