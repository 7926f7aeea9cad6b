import { describe, expect, it } from 'vitest';
import { ShardedMap, shardOf } from '../../src/store/sharded-map.js';

/** The fullest shard over the mean, for a set of keys. */
function skew(keys: string[]): number {
  const counts = new Map<number, number>();
  for (const k of keys) counts.set(shardOf(k), (counts.get(shardOf(k)) ?? 0) + 1);
  expect(counts.size).toBe(64);
  return Math.max(...counts.values()) / (keys.length / 64);
}

describe('ShardedMap', () => {
  it('behaves as one Map: set returns the value it replaced, delete the value it removed, size counts keys', () => {
    const m = new ShardedMap<string>();
    expect(m.set('a', '1')).toBeUndefined();
    expect(m.set('a', '2')).toBe('1');
    m.set('b', '3');
    expect(m.size).toBe(2);
    expect(m.get('a')).toBe('2');
    expect(m.has('c')).toBe(false);
    expect(m.delete('c')).toBeUndefined();
    expect(m.delete('a')).toBe('2');
    expect(m.size).toBe(1);
    expect([...m.entries()]).toEqual([['b', '3']]);
    m.clear();
    expect(m.size).toBe(0);
  });

  it('spreads keys evenly over its 64 shards, so that no one V8 Map (2^24 entries at most) fills long before the rest', () => {
    const n = 64_000;
    const numbered = Array.from({ length: n }, (_, i) => `key:${String(i).padStart(12, '0')}`);
    // A long shared prefix and suffix, the middle varying: a hash of the ends alone would put them all in one shard.
    const middle = Array.from({ length: n }, (_, i) => `tenant/acme/sessions/${i}/state/v1/json`);
    const bytes = Array.from({ length: n }, (_, i) => String.fromCharCode(i & 0xff, (i >> 8) & 0xff, 0, 0xff));
    for (const keys of [numbered, middle, bytes]) expect(skew(keys)).toBeLessThan(1.25);
  });
});
