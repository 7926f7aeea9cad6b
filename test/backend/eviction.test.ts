/**
 * The eviction policies on a MemoryBackend with a clock moved by hand: which keys
 * go. The sampler is given a seeded random source, so each run is the same; the
 * thresholds are still set so that a correct sampler passes them for any seed and a
 * random choice fails them by many standard deviations (each test says how many).
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../clients/lib/chaos-random.js';
import { Evictor, type EvictionPolicy } from '../../src/backend/memory/eviction.js';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import type { Mutation } from '../../src/backend/types.js';
import { ManualClock } from '../helpers/server.js';

const HOUR = 3_600_000;

const keyOf = (m: Mutation): string => (m.kind === 'flush' ? '' : m.key);

function setup(policy: Exclude<EvictionPolicy, 'noeviction'>, seed = 1) {
  const clock = new ManualClock();
  const backend = new MemoryBackend({ clock: clock.now });
  const evictor = new Evictor(backend, policy, 5, seededRandom(seed));
  // Every change as the log would get it: the clock never passes a TTL here, so each delete is an eviction.
  const recorded: Mutation[] = [];
  backend.setSink({ writeBlocker: () => null, record: (m) => void recorded.push(m), recordAll: (ms) => void recorded.push(...ms) });
  const put = (key: string, ttlMs = 0) =>
    backend.update(key, () => ({ change: { kind: 'put', value: 'v'.repeat(100), expiresAt: ttlMs === 0 ? 0 : clock.ms + ttlMs }, result: null }));
  /** Evicts `n` keys one at a time (or until the policy has none to take); returns them in order. */
  const evict = (n: number): string[] => {
    const from = recorded.length;
    for (let i = 0; i < n && evictor.evict(1) > 0; i++);
    return recorded.slice(from).map(keyOf);
  };
  return { clock, backend, evictor, recorded, put, evict };
}

/** `n` keys, and a half of them chosen at random (not by the order they were written in). */
function keysWithHalf(n: number, seed: number): { keys: string[]; half: Set<string> } {
  const random = seededRandom(seed);
  const keys = Array.from({ length: n }, (_, i) => `key:${i}`);
  const shuffled = keys.map((k) => ({ k, r: random() })).sort((a, b) => a.r - b.r);
  return { keys, half: new Set(shuffled.slice(0, n / 2).map((x) => x.k)) };
}

describe('eviction by policy', () => {
  it('allkeys-lru evicts keys not read recently far more often than keys read recently', () => {
    const { clock, backend, put, evict } = setup('allkeys-lru');
    const { keys, half: hot } = keysWithHalf(1000, 7);
    for (const k of keys) put(k);
    for (let round = 0; round < 5; round++) {
      clock.advance(1000);
      for (const k of hot) backend.get(k);
    }
    clock.advance(1000);
    const gone = evict(250);
    expect(gone).toHaveLength(250);
    // A random choice would take about 125 read keys (sd about 7): 25 is 14 sd below that.
    // A sampler that keeps the best of several samples takes almost none while unread keys remain.
    expect(gone.filter((k) => hot.has(k)).length).toBeLessThanOrEqual(25);
  });

  it('volatile-lru evicts only keys with a TTL, those not read recently first, then finds none to take', () => {
    const { clock, backend, put, evict } = setup('volatile-lru');
    const { keys, half: volatile } = keysWithHalf(1000, 11);
    const hot = keysWithHalf(1000, 12).half;
    for (const k of keys) put(k, volatile.has(k) ? HOUR : 0);
    for (let round = 0; round < 5; round++) {
      clock.advance(1000);
      for (const k of hot) backend.get(k);
    }
    const first = evict(volatile.size / 4);
    const hotVolatile = [...volatile].filter((k) => hot.has(k)).length;
    // About half the volatile keys were read; a random choice would take about 62 of them (sd about 5): 13 is 10 sd below.
    expect(first.filter((k) => hot.has(k)).length, `${hotVolatile} volatile keys were read`).toBeLessThanOrEqual(13);
    const all = [...first, ...evict(keys.length)];
    expect(all.every((k) => volatile.has(k))).toBe(true);
    expect(all).toHaveLength(volatile.size);
    expect(backend.size).toBe(keys.length - volatile.size);
    expect(backend.keyspaceInfo().evictedKeys).toBe(volatile.size);
  });

  for (const policy of ['volatile-random', 'volatile-ttl'] as const) {
    it(`${policy} never evicts a key without a TTL, and finds none to take once only those are left`, () => {
      const { backend, put, evict } = setup(policy);
      const { keys, half: volatile } = keysWithHalf(400, 13);
      for (const k of keys) put(k, volatile.has(k) ? HOUR : 0);
      const gone = evict(keys.length);
      expect(new Set(gone)).toEqual(volatile);
      expect(backend.volatileCount).toBe(0);
      expect(backend.size).toBe(keys.length - volatile.size);
    });
  }

  it('volatile-ttl evicts the keys that expire soonest first', () => {
    const { put, evict } = setup('volatile-ttl');
    const random = seededRandom(17);
    // TTLs at random over an hour (the order they were written in says nothing of them).
    const ttl = new Map(Array.from({ length: 1000 }, (_, i) => [`key:${i}`, HOUR + Math.floor(random() * HOUR)]));
    for (const [k, t] of ttl) put(k, t);
    const median = [...ttl.values()].sort((a, b) => a - b)[500] as number;
    const gone = evict(250);
    // A random choice would take about 125 of the 250 from below the median (sd about 7): 225 is 14 sd above.
    expect(gone.filter((k) => (ttl.get(k) as number) < median).length).toBeGreaterThanOrEqual(225);
  });

  for (const policy of ['allkeys-random', 'volatile-random'] as const) {
    it(`${policy} evicts roughly uniformly, whatever the order keys were written in and however recently they were read`, () => {
      const { clock, backend, put, evict } = setup(policy, 19);
      const { keys, half: hot } = keysWithHalf(800, 23);
      for (const k of keys) put(k, HOUR);
      clock.advance(1000);
      for (const k of hot) backend.get(k);
      const gone = evict(400);
      expect(gone).toHaveLength(400);
      // Taking 400 of 800 at random, a quarter of the keys loses 100 (sd 6.1) and a half 200 (sd 7.1);
      // the bounds are 6.5 and 5.6 sd away. Evicting in the order of writing would take all of the first two quarters.
      const byQuarter = [0, 1, 2, 3].map((q) => gone.filter((k) => Math.floor(Number(k.slice(4)) / 200) === q).length);
      for (const n of byQuarter) expect(n, `evictions by quarter of the writing order: ${byQuarter.join(', ')}`).toBeGreaterThanOrEqual(60);
      for (const n of byQuarter) expect(n, `evictions by quarter of the writing order: ${byQuarter.join(', ')}`).toBeLessThanOrEqual(140);
      const readGone = gone.filter((k) => hot.has(k)).length;
      expect(readGone).toBeGreaterThanOrEqual(160);
      expect(readGone).toBeLessThanOrEqual(240);
    });
  }

  it('volatile-lru counts a key as used when a write with a TTL creates it', () => {
    const { clock, backend, put, evict } = setup('volatile-lru');
    for (let i = 0; i < 1000; i++) put(`old:${i}`, HOUR);
    for (let i = 0; i < 1000; i++) backend.get(`old:${i}`);
    clock.advance(10_000);
    // Written through update(), as SET … EX, SETEX and CAS write: the key was not there to be read first.
    for (let i = 0; i < 1000; i++) put(`new:${i}`, HOUR);
    // Taken for never used, they went first (all 500). A few may still go while the walk crosses them.
    expect(evict(500).filter((k) => k.startsWith('new:')).length).toBeLessThanOrEqual(25);
  });

  describe('when the order of writing follows the score', () => {
    for (const layout of ['first', 'last'] as const) {
      it(`allkeys-lru keeps the keys read recently when they were all written ${layout}`, () => {
        const { clock, backend, put, evict } = setup('allkeys-lru');
        const keys = Array.from({ length: 2000 }, (_, i) => `key:${i}`);
        const hot = new Set(layout === 'first' ? keys.slice(0, 1000) : keys.slice(1000));
        for (const k of keys) put(k);
        for (let round = 0; round < 5; round++) {
          clock.advance(1000);
          for (const k of hot) backend.get(k);
        }
        clock.advance(1000);
        // Taking the best of each round of a walk in writing order took 285 (first) and 185 (last) read keys of 500.
        expect(evict(500).filter((k) => hot.has(k)).length).toBeLessThanOrEqual(50);
      });
    }

    it('allkeys-lru does not evict the keys just written while older unread keys remain', () => {
      const { clock, put, evict } = setup('allkeys-lru');
      for (let i = 0; i < 2000; i++) put(`key:${i}`);
      const gone: string[] = [];
      for (let i = 0; i < 500; i++) {
        clock.advance(100);
        put(`new:${i}`);
        gone.push(...evict(1));
      }
      // A random choice would take about 47 of the new keys; the walk alone took 87.
      expect(gone.filter((k) => k.startsWith('new:')).length).toBeLessThanOrEqual(10);
    });

    for (const layout of ['written first (one TTL for all)', 'written last'] as const) {
      it(`volatile-ttl evicts the nearest expiries first when they were ${layout}`, () => {
        const { put, evict } = setup('volatile-ttl');
        const n = 2000;
        const ttl = (i: number) => HOUR + 1000 * (layout === 'written last' ? n - i : i);
        for (let i = 0; i < n; i++) put(`key:${i}`, ttl(i));
        const nearest = (k: string) => ttl(Number(k.slice(4))) < HOUR + 1000 * (n / 2);
        // A random choice would take 250 of the 500 from the nearer half (sd 10); the walk alone took 315 and 215.
        expect(evict(500).filter(nearest).length).toBeGreaterThanOrEqual(400);
      });
    }
  });

  it('frees at least the bytes asked for, counts each key, and logs each eviction as a delete with a new revision', () => {
    const { backend, evictor, recorded, put } = setup('allkeys-random');
    for (let i = 0; i < 100; i++) put(`key:${i}`);
    recorded.length = 0;
    const before = backend.dataBytes;
    const revision = backend.revision;
    const freed = evictor.evict(2000);
    expect(freed).toBeGreaterThanOrEqual(2000);
    expect(backend.dataBytes).toBe(before - freed);
    const evicted = backend.keyspaceInfo().evictedKeys;
    expect(evicted).toBe(100 - backend.size);
    expect(recorded.map((m) => m.kind)).toEqual(Array(evicted).fill('del'));
    expect(recorded.map((m) => m.version)).toEqual(Array.from({ length: evicted }, (_, i) => revision + i + 1));
    for (const m of recorded) expect(backend.has(keyOf(m))).toBe(false);
  });
});
