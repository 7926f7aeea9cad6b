import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { encodeStored, storedExpiry, storedValue, storedVersion } from '../../src/backend/memory/stored-value.js';
import type { Mutation } from '../../src/backend/types.js';
import { KvError } from '../../src/errors.js';
import { ManualClock } from '../helpers/server.js';

/** An update with no sink waiting answers at once. */
function sync<T>(v: T | Promise<T>): T {
  if (v instanceof Promise) throw new Error('expected a synchronous answer');
  return v;
}

function recording(b: MemoryBackend): Mutation[] {
  const out: Mutation[] = [];
  b.setSink({ writeBlocker: () => null, record: (m) => void out.push(m), recordAll: (ms) => void out.push(...ms) });
  return out;
}

describe('the stored value header', () => {
  it('round-trips any value, any version below 2^53 and any expiry up to 2^63', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constant(9223372036854770000)),
        (value, version, expiresAt) => {
          const s = encodeStored(value, version, expiresAt);
          expect(storedValue(s)).toBe(value);
          expect(storedVersion(s)).toBe(version);
          expect(storedExpiry(s)).toBe(expiresAt);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('MemoryBackend', () => {
  it('puts, gets, counts and deletes binary keys and values', () => {
    const b = new MemoryBackend();
    b.put('k\x00\xff', 'v\r\n');
    expect(b.get('k\x00\xff')).toEqual({ value: 'v\r\n', version: 1, expiresAt: 0 });
    expect(b.exists(['k\x00\xff', 'k\x00\xff', 'nope'])).toBe(2);
    expect(b.dbsize()).toBe(1);
    expect(b.delete(['k\x00\xff', 'nope'])).toBe(1);
    expect(b.get('k\x00\xff')).toBeUndefined();
    expect(b.dbsize()).toBe(0);
  });

  it('gives every write a new, higher version, deletes included, and hands each to the sink in order', () => {
    const b = new MemoryBackend();
    const log = recording(b);
    expect(b.put('a', '1')).toBe(1);
    expect(b.put('b', '1')).toBe(2);
    expect(b.put('a', '2')).toBe(3);
    expect(b.delete(['a'])).toBe(1);
    expect(b.delete(['a'])).toBe(0); // nothing to delete: no record, no version used
    expect(b.put('a', '3')).toBe(5);
    expect(log).toEqual([
      { kind: 'put', key: 'a', value: '1', version: 1, expiresAt: 0 },
      { kind: 'put', key: 'b', value: '1', version: 2, expiresAt: 0 },
      { kind: 'put', key: 'a', value: '2', version: 3, expiresAt: 0 },
      { kind: 'del', key: 'a', version: 4 },
      { kind: 'put', key: 'a', value: '3', version: 5, expiresAt: 0 },
    ]);
  });

  it("answers with the sink's promise for a write that must wait for durability, and the version once it is durable", async () => {
    const b = new MemoryBackend();
    let release = (): void => undefined;
    const durable = new Promise<void>((resolve) => (release = resolve));
    b.setSink({ writeBlocker: () => null, record: () => durable, recordAll: () => durable });
    const r = b.put('k', 'v');
    expect(r).toBeInstanceOf(Promise);
    release();
    await expect(r).resolves.toBe(1);
  });

  it('runs an update from the current entry and applies its change atomically', () => {
    const b = new MemoryBackend();
    b.put('k', 'v');
    const r = b.update('k', (cur) => ({ change: { kind: 'put', value: `${cur?.value}!`, expiresAt: 0 }, result: cur?.version }));
    expect(r).toEqual({ result: 1, version: 2 });
    expect(b.get('k')?.value).toBe('v!');
    expect(b.update('k', () => ({ change: { kind: 'none' }, result: null }))).toEqual({ result: null, version: 2 });
    expect(b.update('gone', () => ({ change: { kind: 'del' }, result: null }))).toEqual({ result: null, version: 0 });
  });

  it('expires a key lazily once its time is past, records the expiry as a delete, and counts it', () => {
    const clock = new ManualClock();
    const b = new MemoryBackend({ clock: clock.now });
    const log = recording(b);
    b.update('k', () => ({ change: { kind: 'put', value: 'v', expiresAt: clock.ms + 1000 }, result: null }));
    expect(b.get('k')?.expiresAt).toBe(clock.ms + 1000);
    expect(b.keyspaceInfo()).toMatchObject({ keys: 1, expires: 1, avgTtl: 1000 });
    clock.advance(1000);
    expect(b.get('k')?.value).toBe('v'); // as in Redis, a key lives through its expiry millisecond
    clock.advance(1);
    expect(b.get('k')).toBeUndefined();
    expect(b.keyspaceInfo()).toMatchObject({ keys: 0, expires: 0, expiredKeys: 1 });
    expect(log.at(-1)).toEqual({ kind: 'del', key: 'k', version: 2 });
    expect(b.dataBytes).toBe(0);
  });

  it('after any mix of writes with and without expiry, its counts and bytes equal those of a backend built from the end state', () => {
    const op = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      kind: fc.constantFrom('put', 'putTtl', 'updatePut', 'expire', 'persist', 'del', 'keepTtl'),
      ttl: fc.integer({ min: 1, max: 5000 }),
      value: fc.string({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const clock = new ManualClock();
        const b = new MemoryBackend({ clock: clock.now });
        for (const o of ops) {
          const at = clock.ms + o.ttl;
          if (o.kind === 'put') b.put(o.key, o.value);
          else if (o.kind === 'del') b.delete([o.key]);
          else {
            const change =
              o.kind === 'putTtl'
                ? { kind: 'put' as const, value: o.value, expiresAt: at }
                : o.kind === 'updatePut'
                  ? { kind: 'put' as const, value: o.value, expiresAt: 0 }
                  : o.kind === 'keepTtl'
                    ? { kind: 'put' as const, value: o.value, expiresAt: 'keep' as const }
                    : { kind: 'expire' as const, expiresAt: o.kind === 'expire' ? at : 0 };
            b.update(o.key, () => ({ change, result: null }));
          }
        }
        const fresh = new MemoryBackend({ clock: clock.now });
        for (const key of ['a', 'b', 'c']) {
          const e = b.get(key);
          if (e !== undefined) fresh.update(key, () => ({ change: { kind: 'put', value: e.value, expiresAt: e.expiresAt }, result: null }));
        }
        const counts = (x: MemoryBackend) => {
          const { keys, expires, avgTtl } = x.keyspaceInfo();
          return { keys, expires, avgTtl };
        };
        expect(counts(b)).toEqual(counts(fresh));
        expect(b.volatileCount).toBe(fresh.volatileCount);
        expect(b.dataBytes).toBe(fresh.dataBytes);
      }),
      { numRuns: 500 },
    );
  });

  it('an expiry change keeps the value, takes a new version, and is logged as an expire', () => {
    const clock = new ManualClock();
    const b = new MemoryBackend({ clock: clock.now });
    const log = recording(b);
    b.put('k', 'v');
    expect(sync(b.update('k', () => ({ change: { kind: 'expire', expiresAt: clock.ms + 50 }, result: null }))).version).toBe(2);
    expect(b.get('k')).toEqual({ value: 'v', version: 2, expiresAt: clock.ms + 50 });
    expect(sync(b.update('k', () => ({ change: { kind: 'expire', expiresAt: 0 }, result: null }))).version).toBe(3);
    expect(b.get('k')?.expiresAt).toBe(0);
    expect(log.map((m) => m.kind)).toEqual(['put', 'expire', 'expire']);
    expect(b.keyspaceInfo().expires).toBe(0);
  });

  it('the sweep reclaims expired keys nobody reads, within its budget, and leaves the others', () => {
    const clock = new ManualClock();
    const b = new MemoryBackend({ clock: clock.now });
    for (let i = 0; i < 1000; i++) {
      b.update(`k${i}`, () => ({ change: { kind: 'put', value: 'v', expiresAt: clock.ms + (i % 2 === 0 ? 100 : 100_000) }, result: null }));
    }
    b.put('plain', 'v');
    clock.advance(101);
    let expired = 0;
    for (let round = 0; round < 10 && expired < 500; round++) expired += b.sweep(50).expired;
    expect(expired).toBe(500);
    expect(b.dbsize()).toBe(501);
    expect(b.keyspaceInfo()).toMatchObject({ expires: 500, expiredKeys: 500 });
  });

  it('applies recovered mutations without recording them, drops keys already expired, and raises the revision', () => {
    const clock = new ManualClock();
    const b = new MemoryBackend({ clock: clock.now });
    const log = recording(b);
    b.applyRecovered({ kind: 'put', key: 'a', value: '1', version: 40, expiresAt: 0 });
    b.applyRecovered({ kind: 'put', key: 'old', value: '1', version: 41, expiresAt: clock.ms - 1 });
    b.applyRecovered({ kind: 'put', key: 'ttl', value: '1', version: 42, expiresAt: clock.ms + 10 });
    b.applyRecovered({ kind: 'expire', key: 'a', version: 43, expiresAt: clock.ms + 20 });
    b.applyRecovered({ kind: 'del', key: 'gone', version: 44 });
    expect(log).toEqual([]);
    expect([...b.entries()].sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', value: '1', version: 43, expiresAt: clock.ms + 20 },
      { key: 'ttl', value: '1', version: 42, expiresAt: clock.ms + 10 },
    ]);
    expect(b.revision).toBe(44);
    expect(b.put('n', 'v')).toBe(45); // the counter goes on after the highest version recovered
  });

  it("passes on the sink's write blocker", () => {
    const b = new MemoryBackend();
    const err = new KvError('READ_ONLY', 'the log failed');
    b.setSink({ writeBlocker: () => err, record: () => undefined, recordAll: () => undefined });
    expect(b.writeBlocker()).toBe(err);
  });
});
