import { describe, expect, it } from 'vitest';
import { POOL_SPELL_MS, SLOW_WRITE_MS, WritePath } from '../../src/persistence/write-path.js';

describe('WritePath: where the log writes a batch under everysec and no (time is an input)', () => {
  it('writes directly unless an fdatasync is in flight', () => {
    const path = new WritePath(() => 0);
    expect(path.direct(false)).toBe(true);
    expect(path.direct(true)).toBe(false);
  });

  it('a write up to SLOW_WRITE_MS is not slow: the next one is direct too', () => {
    const path = new WritePath(() => 5);
    expect(path.took(SLOW_WRITE_MS)).toBe(false);
    expect(path.direct(false)).toBe(true);
    expect(path.slowWrites).toBe(0);
  });

  it('after a slow write, the writes go to the thread pool for POOL_SPELL_MS, then directly again', () => {
    let now = 1000;
    const path = new WritePath(() => now);
    expect(path.took(SLOW_WRITE_MS + 1)).toBe(true);
    expect(path.slowWrites).toBe(1);
    expect(path.direct(false)).toBe(false);
    now += POOL_SPELL_MS - 1;
    expect(path.direct(false)).toBe(false);
    now += 1;
    expect(path.direct(false)).toBe(true);
    expect(path.direct(true)).toBe(false);
  });
});
