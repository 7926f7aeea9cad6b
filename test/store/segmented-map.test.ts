import { describe, expect, it } from 'vitest';
import { DEFAULT_SEGMENT_SIZE, SegmentedMap } from '../../src/store/segmented-map.js';

describe('SegmentedMap', () => {
  it('behaves as one Map: set returns the value it replaced, delete the value it removed, size counts keys', () => {
    const m = new SegmentedMap<string>();
    expect(m.set('a', '1')).toBeUndefined();
    expect(m.set('a', '2')).toBe('1');
    m.set('b', '3');
    expect(m.size).toBe(2);
    expect(m.get('a')).toBe('2');
    expect(m.has('c')).toBe(false);
    expect(m.delete('c')).toBeUndefined();
    expect(m.delete('a')).toBe('2');
    expect(m.size).toBe(1);
    expect([...m]).toEqual([['b', '3']]);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.segmentCount).toBe(1);
  });

  it('starts a further Map once one holds segmentSize keys, so that no V8 Map nears its 2^24 limit', () => {
    expect(DEFAULT_SEGMENT_SIZE).toBeLessThanOrEqual(2 ** 22);
    const m = new SegmentedMap<number>(4);
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
  });
});
