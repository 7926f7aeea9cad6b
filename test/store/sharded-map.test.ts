import { describe, expect, it } from 'vitest';
import { DEFAULT_SEGMENT_SIZE, KeyRotor, SHARD_BITS, ShardedMap, shardOf } from '../../src/store/sharded-map.js';

describe('ShardedMap', () => {
  it('behaves as one Map: set returns the value it replaced, delete the value it removed, size counts keys', () => {
    const m = new ShardedMap<string>();
    expect(m.set('a', '1')).toBeUndefined();
    expect(m.set('a', '2')).toBe('1');
    m.set('b', '3');
    m.set('', 'empty key');
    expect(m.size).toBe(3);
    expect(m.get('a')).toBe('2');
    expect(m.get('')).toBe('empty key');
    expect(m.has('c')).toBe(false);
    expect(m.delete('c')).toBeUndefined();
    expect(m.delete('a')).toBe('2');
    expect(m.size).toBe(2);
    expect(new Map([...m])).toEqual(new Map([['b', '3'], ['', 'empty key']]));
    m.clear();
    expect(m.size).toBe(0);
    expect([...m]).toEqual([]);
    expect(m.segmentCount).toBe(1 << SHARD_BITS);
  });

  it('starts a further Map in a shard once one holds segmentSize keys, so that no V8 Map nears its 2^24 limit', () => {
    expect(DEFAULT_SEGMENT_SIZE).toBeLessThanOrEqual(2 ** 22);
    const m = new ShardedMap<number>(4, 0); // one shard: every key lands in it
    for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
    expect(m.size).toBe(10);
    expect(m.segmentCount).toBe(3); // 4 + 4 + 2
    for (let i = 0; i < 10; i++) expect(m.get(`k${i}`)).toBe(i);
    // An overwrite stays where the key is; it adds nothing.
    expect(m.set('k1', 100)).toBe(1);
    expect(m.size).toBe(10);
    expect(m.segmentCount).toBe(3);
    // A delete in the first Map makes room there for the next new key.
    expect(m.delete('k2')).toBe(2);
    m.set('new', 42);
    expect(m.segmentCount).toBe(3);
    expect([...m].slice(0, 4).map(([k]) => k)).toEqual(['k0', 'k1', 'k3', 'new']);
    expect(new Set([...m].map(([k]) => k)).size).toBe(10);
    expect(m.get('k2')).toBeUndefined();
    m.clear();
    expect(m.segmentCount).toBe(1);
    m.set('again', 1);
    expect([...m]).toEqual([['again', 1]]);
  });

  it('setKnown, told whether the key is there, keeps the same keys and count as set, past a full segment too', () => {
    const known = new ShardedMap<number>(4, 0);
    const plain = new ShardedMap<number>(4, 0);
    for (let i = 0; i < 10; i++) {
      known.setKnown(`k${i}`, i, false);
      plain.set(`k${i}`, i);
    }
    for (const i of [0, 5, 9]) {
      known.setKnown(`k${i}`, i * 10, true); // in the first, second and third Map
      plain.set(`k${i}`, i * 10);
    }
    expect(known.size).toBe(10);
    expect(known.segmentCount).toBe(plain.segmentCount);
    expect([...known].sort()).toEqual([...plain].sort());
  });

  it('spreads keys that differ only in a few characters, wherever they sit, evenly over the shards', () => {
    const families: Record<string, (i: number) => string> = {
      'a counter at the end': (i) => `key:${String(i).padStart(12, '0')}`,
      'an id in the middle': (i) => `user:${i}:profile`,
      'short keys': (i) => `k${i}`,
      'a long path': (i) => `tenant/${i % 7}/objects/${Math.floor(i / 7)}/metadata.json`,
      'binary keys': (i) => String.fromCharCode(i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff),
    };
    const shards = 1 << SHARD_BITS;
    const n = 64_000;
    for (const [name, key] of Object.entries(families)) {
      const counts = new Array<number>(shards).fill(0);
      for (let i = 0; i < n; i++) counts[shardOf(key(i))] = (counts[shardOf(key(i))] ?? 0) + 1;
      // Uniform would be n / shards each; no shard holds twice its share (a stall is that shard's size).
      expect(Math.max(...counts), name).toBeLessThan((2 * n) / shards);
      expect(Math.min(...counts), name).toBeGreaterThan(n / shards / 2);
    }
  });

  it('reads a bounded number of characters of a long key, and still tells apart keys that differ at its end', () => {
    const long = 'p'.repeat(1 << 20);
    const seen = new Set<number>();
    for (let i = 0; i < 256; i++) seen.add(shardOf(long + String.fromCharCode(i)));
    expect(seen.size).toBeGreaterThan(32);
  });
});

describe('KeyRotor', () => {
  it('visits every key once a round, across every shard, and goes on round and round through sets and deletes', () => {
    const m = new ShardedMap<number>();
    for (let i = 0; i < 1000; i++) m.set(`k${i}`, i);
    const r = new KeyRotor(m);
    const round = new Set<string>();
    for (let i = 0; i < 1000; i++) round.add(r.next() as string);
    expect(round.size).toBe(1000);
    for (let i = 0; i < 500; i++) m.delete(`k${i}`);
    const second = new Set<string>();
    for (let i = 0; i < 500; i++) second.add(r.next() as string);
    expect(second).toEqual(new Set(Array.from({ length: 500 }, (_, i) => `k${i + 500}`)));
    m.clear();
    expect(r.next()).toBeUndefined();
  });
});
