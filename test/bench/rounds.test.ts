import { describe, expect, it } from 'vitest';
import { median, visitOrder } from '../../bench/lib/rounds.js';

describe('interleaved rounds', () => {
  it('take the median of the figures there are, the upper one of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([NaN, 5, 1])).toBe(5);
    expect(median([NaN])).toBeNaN();
  });

  it('let each server start a round in turn', () => {
    expect([0, 1, 2, 3].map((r) => visitOrder(3, r))).toEqual([
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
      [0, 1, 2],
    ]);
  });
});
