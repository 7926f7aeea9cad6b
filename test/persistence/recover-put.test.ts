import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { encodeStoredKey, FORMAT_VERSION, putSize } from '../../src/persistence/formats.js';
import { blankRecord, decodeRecord, isFault } from '../../src/persistence/record-decode.js';
import { FoldedKeys } from '../../src/persistence/folded-keys.js';

const NOW = 1_767_225_600_000;

/**
 * Recovery's hot path: a PUT record is decoded without making its value a string, and
 * the store builds its own string from the record's bytes, writing its header over the
 * bytes just before the value (DurableStore.recoverPut). Whatever the key and value,
 * the key must come back exactly, and the next record in the buffer must be untouched.
 */
describe('a recovered PUT, read from the record bytes in place', () => {
  const record = fc.record({
    key: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1')),
    value: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
    version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: NOW, max: Number.MAX_SAFE_INTEGER })),
  });

  it('gives the memory backend and the snapshot worker exactly the key that was written, and leaves the next record as it was', () => {
    fc.assert(
      fc.property(record, record, (a, b) => {
        const buf = Buffer.alloc(putSize(a.key, a.value, a.expiresAt, a.version) + putSize(b.key, b.value, b.expiresAt, b.version));
        const second = encodeStoredKey(buf, 0, a);
        encodeStoredKey(buf, second, b);
        const backend = new MemoryBackend({ clock: () => NOW });
        const folded = new FoldedKeys(NOW);
        const rec = blankRecord(false);
        for (const at of [0, second]) {
          const r = decodeRecord(buf, at, FORMAT_VERSION, rec);
          if (isFault(r)) throw new Error(r.detail);
          expect(r.value).toBe(''); // left in the bytes
          backend.recoverPut(r.key, r.buf, r.valueStart, r.valueEnd, r.version, r.expiresAt);
          folded.recoverPut(r.key, r.buf, r.valueStart, r.valueEnd, r.version, r.expiresAt);
          if (at === 0) {
            // The first record's bytes were written over; the second decodes as written.
            const next = decodeRecord(buf, second, FORMAT_VERSION, blankRecord());
            expect(isFault(next) ? next : { key: next.key, value: next.value, version: next.version, expiresAt: next.expiresAt }).toEqual(b);
          }
        }
        const expected = new Map([a, b].map((k) => [k.key, k]));
        expect(new Map([...backend.entries()].map((k) => [k.key, k]))).toEqual(expected);
        expect(new Map([...folded.entries()].map((k) => [k.key, k]))).toEqual(expected);
        for (const k of expected.values()) expect(backend.get(k.key)).toEqual({ value: k.value, version: k.version, expiresAt: k.expiresAt });
      }),
    );
  });
});
