import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { datagramCrc, decodeReply, decodeRequest, encodeReply, Opcode, Status, STATUS_NAMES } from '../../src/protocol/datagram.js';
import { encodeSignedRequest, macKey, macMatches, replySigned, signDatagram, useHmacEngine, type SigningKey } from '../../src/protocol/datagram-auth.js';
import { nativeHmacEngine } from '../../src/frontends/udp/udp-io.js';
import { IN_CI } from '../helpers/peers.js';
import { DatagramError } from '../../src/protocol/datagram-error.js';
import { replyAuthExtension, ReplyExtension } from '../../src/protocol/datagram-extensions.js';
import { parseDocVectors } from '../helpers/doc-vectors.js';

// docs/PROTOCOL.md "Authenticated datagrams": the AUTH extensions and their MAC, as pure functions.

interface Meta {
  readonly kind: 'request' | 'reply';
  readonly opcode: keyof typeof Opcode;
  readonly id: number;
  readonly key?: string;
  readonly value?: string;
  readonly status?: string;
  readonly keyId: number;
  readonly sender?: number;
  readonly timestamp?: number;
  readonly sequence: number;
}

const DOC = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/PROTOCOL.md'), 'utf8');
const section = DOC.slice(DOC.indexOf('<!-- section: udp-auth -->'), DOC.indexOf('<!-- /section: udp-auth -->'));
const vectors = parseDocVectors<Meta>(section);
/** The page's published test key: 32 bytes, 00 to 1f. */
const TEST_KEY: SigningKey = { id: 1, key: macKey(Buffer.from(Array.from({ length: 32 }, (_, i) => i))) };
const OTHER_KEY: SigningKey = { id: 1, key: macKey(Buffer.alloc(32, 0xee)) };
const SEED = 20260101;

describe('docs/PROTOCOL.md authenticated test vectors', () => {
  it('the page has a signed request and its signed reply', () => {
    expect(vectors.map((v) => v.name)).toEqual(['auth-get-request', 'auth-get-reply']);
  });

  for (const v of vectors) {
    it(`${v.name}: decodes to its fields, its MAC checks with the test key, and signing the fields gives the same bytes`, () => {
      const m = v.meta;
      if (m.kind === 'request') {
        const d = decodeRequest(v.bytes);
        expect([d.opcode, d.id, d.key.toString(), d.value.toString()]).toEqual([Opcode[m.opcode], m.id, m.key ?? '', m.value ?? '']);
        const a = d.options.auth;
        expect(a && [a.keyId, a.sender, a.timestamp, a.sequence]).toEqual([m.keyId, m.sender, m.timestamp, BigInt(m.sequence)]);
        expect(macMatches(v.bytes, (a as NonNullable<typeof a>).mac, TEST_KEY.key)).toBe(true);
        expect(macMatches(v.bytes, (a as NonNullable<typeof a>).mac, OTHER_KEY.key)).toBe(false);
        const again = encodeSignedRequest({ opcode: d.opcode, id: d.id, key: m.key, value: m.value }, { sender: m.sender as number, timestamp: m.timestamp as number, sequence: m.sequence }, TEST_KEY);
        expect(again.toString('hex')).toBe(v.bytes.toString('hex'));
      } else {
        const d = decodeReply(v.bytes);
        expect([d.opcode, d.id, STATUS_NAMES[d.status], d.value.toString()]).toEqual([Opcode[m.opcode], m.id, m.status, m.value ?? '']);
        const seq = BigInt(m.sequence);
        expect(replySigned(v.bytes, d.details.auth, TEST_KEY, seq, seq)).toBe(true);
        expect(replySigned(v.bytes, d.details.auth, TEST_KEY, seq + 1n, seq + 1n)).toBe(false);
        const again = signDatagram(
          encodeReply({ opcode: d.opcode, id: d.id, status: Status[m.status as keyof typeof Status], value: m.value, extensions: [replyAuthExtension(m.keyId, seq)] }),
          ReplyExtension.AUTH,
          TEST_KEY.key,
        );
        expect(again.toString('hex')).toBe(v.bytes.toString('hex'));
      }
    });
  }
});

/** A decoded request's MAC checks, or the datagram is refused: false for either refusal. */
function accepted(buf: Buffer, key: SigningKey): boolean {
  try {
    const d = decodeRequest(buf);
    return d.options.auth !== null && d.options.auth.keyId === key.id && macMatches(buf, d.options.auth.mac, key.key);
  } catch (err) {
    if (err instanceof DatagramError) return false;
    throw err;
  }
}

describe('the MAC', () => {
  const request = (fields: { id: number; key: string; value: string }, seq: number) =>
    encodeSignedRequest({ opcode: Opcode.PUT, ...fields }, { sender: 9, timestamp: 1767225600000, sequence: seq }, TEST_KEY);

  it('tells every single-bit change of any byte, with the CRC made right again', () => {
    const req = request({ id: 5, key: 'k', value: 'value' }, 3);
    expect(accepted(req, TEST_KEY)).toBe(true);
    for (let i = 0; i < req.length - 4; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(req);
        bad[i] = (bad[i] as number) ^ (1 << bit);
        bad.writeUInt32BE(datagramCrc(bad, bad.length - 4), bad.length - 4);
        expect(accepted(bad, TEST_KEY), `byte ${i} bit ${bit}`).toBe(false);
      }
    }
  });

  it('round trip (fast-check): any signed request decodes to its AUTH fields and checks only under its own key', () => {
    fc.assert(
      fc.property(
        fc.record({ id: fc.nat({ max: 0xffffffff }), key: fc.string({ maxLength: 40 }), value: fc.string({ maxLength: 80 }) }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        (fields, sender, timestamp, sequence) => {
          const buf = encodeSignedRequest({ opcode: Opcode.PUT, ...fields }, { sender, timestamp, sequence }, TEST_KEY);
          const a = decodeRequest(buf).options.auth;
          expect(a && [a.keyId, a.sender, a.timestamp, a.sequence]).toEqual([1, sender, timestamp, sequence]);
          expect(accepted(buf, TEST_KEY)).toBe(true);
          expect(accepted(buf, OTHER_KEY)).toBe(false);
        },
      ),
      { numRuns: 500, seed: SEED },
    );
  });

  it('random bytes after a valid header with an AUTH extension give a request or the codec\'s own error (fast-check)', () => {
    const base = request({ id: 1, key: 'k', value: '' }, 1);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.nat({ max: 0xffff }), (tail, extLen) => {
        const buf = Buffer.concat([base.subarray(0, 18), Buffer.from([0x84, tail.length & 0xff]), tail, Buffer.alloc(4)]);
        buf.writeUInt16BE(Math.min(extLen, 2 + tail.length), 10);
        buf.writeUInt16BE(0, 12);
        buf.writeUInt32BE(2 + tail.length - Math.min(extLen, 2 + tail.length), 14);
        buf.writeUInt32BE(datagramCrc(buf, buf.length - 4), buf.length - 4);
        expect(typeof accepted(buf, TEST_KEY)).toBe('boolean');
      }),
      { numRuns: 2000, seed: SEED },
    );
  });
});

describe('the native HMAC (src/frontends/udp/native/udp_batch.c)', () => {
  const native = nativeHmacEngine();
  const missing = native === null;
  if (missing && IN_CI) throw new Error('the native module is not built; under CI (KV_REQUIRE_NATIVE=1) it must be');
  if (missing) process.stderr.write('skipping the native HMAC tests: src/frontends/udp/native is not built (npm rebuild)\n');
  afterEach(() => useHmacEngine(null));

  it.skipIf(missing)('signs and checks the page vectors byte for byte as node:crypto does', () => {
    const docKey = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    for (const v of vectors) {
      useHmacEngine(null);
      const nodeKey = { id: 1, key: macKey(docKey) };
      useHmacEngine(native);
      const nativeKey = { id: 1, key: macKey(docKey) };
      expect(nativeKey.key.prepared).not.toBeNull();
      const type = v.meta.kind === 'request' ? 0x84 : 0x03;
      expect(signDatagram(Buffer.from(v.bytes), type, nativeKey.key)).toEqual(signDatagram(Buffer.from(v.bytes), type, nodeKey.key));
      expect(signDatagram(Buffer.from(v.bytes), type, nativeKey.key)).toEqual(v.bytes);
    }
  });

  it.skipIf(missing)('gives node:crypto\'s MAC for any key and request, and leaves the datagram as it was (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.string({ maxLength: 60 }), fc.string({ maxLength: 300 }), (key, k, value) => {
        useHmacEngine(null);
        const nodeKey = { id: 3, key: macKey(key) };
        useHmacEngine(native);
        const nativeKey = { id: 3, key: macKey(key) };
        const auth = { sender: 1, timestamp: 1767225600000, sequence: 7 };
        const a = encodeSignedRequest({ opcode: Opcode.PUT, id: 1, key: k, value }, auth, nativeKey);
        const b = encodeSignedRequest({ opcode: Opcode.PUT, id: 1, key: k, value }, auth, nodeKey);
        expect(a).toEqual(b);
        const copy = Buffer.from(a);
        expect(accepted(a, nativeKey)).toBe(true);
        expect(a).toEqual(copy);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it.skipIf(missing)('hmacVerify refuses a datagram with any one byte of the signed range or of the MAC changed, and leaves it unchanged', () => {
    const engine = native as NonNullable<typeof native>;
    const key = (useHmacEngine(native), { id: 3, key: macKey(Buffer.alloc(32, 0x11)) });
    const signed = encodeSignedRequest({ opcode: Opcode.PUT, id: 9, key: 'k', value: 'some value' }, { sender: 1, timestamp: 1767225600000, sequence: 7 }, key);
    const mac = (decodeRequest(signed).options.auth as NonNullable<ReturnType<typeof decodeRequest>['options']['auth']>).mac;
    const macAt = mac.byteOffset - signed.byteOffset;
    const prepared = key.key.prepared as Buffer;
    expect(engine.hmacVerify(prepared, signed, signed.length - 4, macAt)).toBe(true);
    for (let i = 0; i < signed.length - 4; i++) {
      for (const bit of [0x01, 0x80]) {
        const changed = Buffer.from(signed);
        changed[i] = (changed[i] as number) ^ bit;
        const copy = Buffer.from(changed);
        expect(engine.hmacVerify(prepared, changed, changed.length - 4, macAt), `byte ${i} ^ ${bit}`).toBe(false);
        expect(changed).toEqual(copy);
      }
    }
    // The MAC field outside data[0, length), or a key that is not a prepared one, is a RangeError, not a read past the buffer.
    expect(() => engine.hmacVerify(prepared, signed, signed.length - 4, signed.length - 4 - 15)).toThrow(RangeError);
    expect(engine.hmacVerify(prepared, signed, signed.length - 4, macAt)).toBe(true);
    expect(() => engine.hmacVerify(prepared, signed, signed.length + 1, macAt)).toThrow(RangeError);
    expect(() => engine.hmacSign(Buffer.alloc(8), signed, signed.length - 4, macAt)).toThrow(RangeError);
  });
});
