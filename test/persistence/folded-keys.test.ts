import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FoldedKeys } from '../../src/persistence/folded-keys.js';

const NOW = 1_767_225_600_000;

describe("the snapshot worker's keyspace", () => {
  it('gives back every key with its value, version and expiry exactly', () => {
    const key = fc.record({
      key: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')),
      value: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
      version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: NOW + 1, max: Number.MAX_SAFE_INTEGER })),
    });
    fc.assert(
      fc.property(fc.uniqueArray(key, { selector: (k) => k.key, maxLength: 30 }), (keys) => {
        const folded = new FoldedKeys(NOW);
        for (const k of keys) folded.applyRecovered({ kind: 'put', ...k });
        expect(new Map([...folded.entries()].map((k) => [k.key, k]))).toEqual(new Map(keys.map((k) => [k.key, k])));
      }),
    );
  });

  it('follows the rules of a recovered mutation: a write already expired deletes, EXPIRE changes expiry and version, PERSIST clears it', () => {
    const folded = new FoldedKeys(NOW);
    folded.applyRecovered({ kind: 'put', key: 'a', value: 'A', version: 1, expiresAt: 0 });
    folded.applyRecovered({ kind: 'put', key: 'b', value: 'B', version: 2, expiresAt: NOW + 5 });
    folded.applyRecovered({ kind: 'expire', key: 'b', version: 3, expiresAt: 0 });
    folded.applyRecovered({ kind: 'expire', key: 'a', version: 4, expiresAt: NOW + 9 });
    folded.applyRecovered({ kind: 'expire', key: 'missing', version: 5, expiresAt: NOW + 9 });
    folded.applyRecovered({ kind: 'put', key: 'c', value: 'C', version: 6, expiresAt: 0 });
    folded.applyRecovered({ kind: 'put', key: 'c', value: 'C2', version: 7, expiresAt: NOW - 1 });
    folded.applyRecovered({ kind: 'put', key: 'd', value: 'D', version: 8, expiresAt: 0 });
    folded.applyRecovered({ kind: 'del', key: 'd', version: 9 });
    // A key lives through its expiry millisecond, as the server's lazy check has it.
    folded.applyRecovered({ kind: 'put', key: 'e', value: 'E', version: 10, expiresAt: NOW });
    const byKey = (x: { key: string }, y: { key: string }) => (x.key < y.key ? -1 : 1);
    expect([...folded.entries()].sort(byKey)).toEqual([
      { key: 'a', value: 'A', version: 4, expiresAt: NOW + 9 },
      { key: 'b', value: 'B', version: 3, expiresAt: 0 },
      { key: 'e', value: 'E', version: 10, expiresAt: NOW },
    ]);
  });
});
