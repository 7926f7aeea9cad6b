import { describe, expect, it } from 'vitest';
import { DIRECT_MAX_BYTES, POOL_SPELL_MS, SLOW_WRITE_MS, WritePath } from '../../src/persistence/write-path.js';

describe('WritePath: where the log writes a batch under everysec and no (time is an input)', () => {
  it('writes directly unless an fdatasync is in flight', () => {
    const path = new WritePath(() => 0);
    expect(path.direct(100, false)).toBe(true);
    expect(path.direct(100, true)).toBe(false);
  });

  it('a batch over DIRECT_MAX_BYTES goes to the thread pool; one of that size or less is written directly', () => {
    const path = new WritePath(() => 0);
    expect(path.direct(DIRECT_MAX_BYTES, false)).toBe(true);
    expect(path.direct(DIRECT_MAX_BYTES + 1, false)).toBe(false);
  });

  it('while a snapshot is being written (diskBusy), every write goes to the thread pool', () => {
    const path = new WritePath(() => 0);
    path.diskBusy = true;
    expect(path.direct(100, false)).toBe(false);
    path.diskBusy = false;
    expect(path.direct(100, false)).toBe(true);
  });

  it('a write up to SLOW_WRITE_MS is not slow: the next one is direct too', () => {
    const path = new WritePath(() => 5);
    expect(path.took(SLOW_WRITE_MS)).toBe(false);
    expect(path.direct(100, false)).toBe(true);
    expect(path.slowWrites).toBe(0);
  });

  it('after a slow write, the writes go to the thread pool for POOL_SPELL_MS, then directly again', () => {
    let now = 1000;
    const path = new WritePath(() => now);
    expect(path.took(SLOW_WRITE_MS + 1)).toBe(true);
    expect(path.slowWrites).toBe(1);
    expect(path.direct(100, false)).toBe(false);
    now += POOL_SPELL_MS - 1;
    expect(path.direct(100, false)).toBe(false);
    now += 1;
    expect(path.direct(100, false)).toBe(true);
    expect(path.direct(100, true)).toBe(false);
  });
});
