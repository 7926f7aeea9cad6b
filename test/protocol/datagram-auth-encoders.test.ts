import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeHmacEngine } from '../../src/frontends/udp/udp-io.js';
import {
  decodeReply,
  decodeRequest,
  encodeErrorReply,
  encodeReply,
  encodeRequest,
  Opcode,
  Status,
  type Extension,
  type ReplyFields,
  type RequestFields,
  type Status as StatusT,
} from '../../src/protocol/datagram.js';
import {
  encodeSignedErrorReply,
  encodeSignedReply,
  encodeSignedRequest,
  macKey,
  macMatches,
  signDatagram,
  useHmacEngine,
  type MacKey,
  type ReplyAuthFields,
  type RequestAuthFields,
  type SigningKey,
} from '../../src/protocol/datagram-auth.js';
import {
  isU64,
  readReplyDetails,
  readRequestOptions,
  replyAuthExtension,
  ReplyExtension,
  requestAuthExtension,
  RequestExtension,
  u64Data,
  writeU64,
} from '../../src/protocol/datagram-extensions.js';
import { parseDocVectors } from '../helpers/doc-vectors.js';
import { IN_CI } from '../helpers/peers.js';

// The single-pass signed encoders and the decoder's AUTH-only path (src/protocol/datagram-auth.ts,
// datagram-extensions.ts) against the two-pass path they replace: encode with AUTH appended, then sign.

const SEED = 20260214;
const native = nativeHmacEngine();
if (native === null && IN_CI) throw new Error('the native module is not built; under CI (KV_REQUIRE_NATIVE=1) it must be');
if (native === null) process.stderr.write('the single-pass encoders are checked with node:crypto only: src/frontends/udp/native is not built (npm rebuild)\n');
afterEach(() => useHmacEngine(null));

/** The same key for node:crypto and, when built, the native HMAC. */
function keysFor(bytes: Uint8Array): MacKey[] {
  useHmacEngine(null);
  const keys = [macKey(bytes)];
  if (native !== null) {
    useHmacEngine(native);
    keys.push(macKey(bytes));
    useHmacEngine(null);
  }
  return keys;
}

/** The two-pass request: AUTH appended to the list, encoded, then signed in place. */
function twoPassRequest(fields: RequestFields, auth: RequestAuthFields, key: SigningKey): Buffer {
  const extensions = [...(fields.extensions ?? []), requestAuthExtension({ keyId: key.id, ...auth })];
  return signDatagram(encodeRequest({ ...fields, extensions }), RequestExtension.AUTH, key.key);
}

function twoPassReply(fields: ReplyFields, auth: ReplyAuthFields, key: MacKey): Buffer {
  const extensions = [...(fields.extensions ?? []), replyAuthExtension(auth.keyId, auth.sequence)];
  return signDatagram(encodeReply({ ...fields, extensions }), ReplyExtension.AUTH, key);
}

function twoPassErrorReply(id: number, opcode: number, status: StatusT, text: string, maxSize: number, auth: ReplyAuthFields, key: MacKey): Buffer | null {
  const buf = encodeErrorReply({ id, opcode }, status, text, maxSize, undefined, [replyAuthExtension(auth.keyId, auth.sequence)]);
  return buf === null ? null : signDatagram(buf, ReplyExtension.AUTH, key);
}

/** What an encoder threw, or null: compared by class and message. */
function thrown(f: () => unknown): { name: string; message: string } | null {
  try {
    f();
    return null;
  } catch (err) {
    return { name: (err as Error).constructor.name, message: (err as Error).message };
  }
}

const DOC = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/PROTOCOL.md'), 'utf8');
const section = DOC.slice(DOC.indexOf('<!-- section: udp-auth -->'), DOC.indexOf('<!-- /section: udp-auth -->'));
const vectors = parseDocVectors<{ kind: string; opcode: keyof typeof Opcode; id: number; key?: string; value?: string; status?: keyof typeof Status; keyId: number; sender?: number; timestamp?: number; sequence: number }>(section);
/** docs/PROTOCOL.md's published test key: 32 bytes, 00 to 1f. */
const DOC_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

describe('single-pass signed encoders: docs/PROTOCOL.md vectors', () => {
  it('the page has the signed request and reply', () => {
    expect(vectors.map((v) => v.name)).toEqual(['auth-get-request', 'auth-get-reply']);
  });

  for (const key of keysFor(DOC_KEY)) {
    const engine = key.prepared === null ? 'node:crypto' : 'native';
    for (const v of vectors) {
      it(`${v.name}: encoded from its fields in one pass gives the page's bytes (${engine} HMAC)`, () => {
        const m = v.meta;
        const got =
          m.kind === 'request'
            ? encodeSignedRequest({ opcode: Opcode[m.opcode], id: m.id, key: m.key, value: m.value }, { sender: m.sender as number, timestamp: m.timestamp as number, sequence: m.sequence }, { id: m.keyId, key })
            : encodeSignedReply({ opcode: Opcode[m.opcode], id: m.id, status: Status[m.status as keyof typeof Status], value: m.value }, { keyId: m.keyId, sequence: BigInt(m.sequence) }, key);
        expect(got.toString('hex')).toBe(v.bytes.toString('hex'));
      });
    }
  }
});

const bytes = fc.oneof(fc.string({ maxLength: 120 }), fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)));
/**
 * Any extension but the AUTH the encoder appends: with a second one in the list the two-pass
 * path signed the first (or threw), the single-pass one the last; either datagram is refused
 * as bad_extension (AUTH twice), which the test below shows.
 */
const extensionBut = (auth: number): fc.Arbitrary<Extension> =>
  fc.record({ type: fc.integer({ min: 0, max: 0xff }).filter((t) => t !== auth), data: fc.uint8Array({ maxLength: 40 }) });
/** A u64 as a number: safe integers, and whole doubles up to 2^64 (as the double holds them). */
const u64Number = fc.oneof(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.double({ min: 0, max: 2 ** 64, maxExcluded: true, noNaN: true }).map(Math.floor));
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), u64Number);
const keyBytes = fc.uint8Array({ minLength: 1, maxLength: 100 });
const status = fc.constantFrom(...(Object.values(Status) as StatusT[]));

describe('single-pass signed encoders: byte for byte the two-pass path (fast-check)', () => {
  it('encodeSignedRequest, for any fields, extensions and AUTH fields, under either HMAC', () => {
    fc.assert(
      fc.property(
        keyBytes,
        fc.record({
          opcode: fc.constantFrom(...(Object.values(Opcode) as Opcode[])),
          id: fc.nat({ max: 0xffffffff }),
          key: fc.option(bytes, { nil: undefined }),
          value: fc.option(bytes, { nil: undefined }),
          extensions: fc.option(fc.array(extensionBut(RequestExtension.AUTH), { maxLength: 4 }), { nil: undefined }),
        }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.record({ sender: fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), timestamp: u64Number, sequence: u64 }),
        (kb, fields, keyId, auth) => {
          for (const key of keysFor(kb)) {
            const signing = { id: keyId, key };
            expect(encodeSignedRequest(fields, auth, signing).toString('hex')).toBe(twoPassRequest(fields, auth, signing).toString('hex'));
          }
        },
      ),
      { numRuns: 500, seed: SEED },
    );
  });

  it('encodeSignedReply, for any status, value, extensions and version, under either HMAC', () => {
    fc.assert(
      fc.property(
        keyBytes,
        fc.record({
          opcode: fc.integer({ min: 0, max: 0xff }),
          id: fc.nat({ max: 0xffffffff }),
          status,
          value: fc.option(bytes, { nil: undefined }),
          extensions: fc.option(fc.array(extensionBut(ReplyExtension.AUTH), { maxLength: 4 }), { nil: undefined }),
          version: fc.option(fc.integer({ min: 0, max: 0xff }), { nil: undefined }),
        }),
        fc.record({ keyId: fc.integer({ min: 0, max: 0xffff }), sequence: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
        (kb, fields, auth) => {
          for (const key of keysFor(kb)) expect(encodeSignedReply(fields, auth, key).toString('hex')).toBe(twoPassReply(fields, auth, key).toString('hex'));
        },
      ),
      { numRuns: 500, seed: SEED },
    );
  });

  it('encodeSignedErrorReply, for any text and size cap (down to none), under either HMAC', () => {
    fc.assert(
      fc.property(
        keyBytes,
        fc.nat({ max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xff }),
        status,
        fc.string({ unit: 'grapheme', maxLength: 80 }),
        fc.integer({ min: 0, max: 200 }),
        fc.record({ keyId: fc.integer({ min: 0, max: 0xffff }), sequence: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
        (kb, id, opcode, st, text, cap, auth) => {
          for (const key of keysFor(kb)) {
            const got = encodeSignedErrorReply({ id, opcode }, st, text, cap, auth, key);
            expect(got?.toString('hex') ?? null).toBe(twoPassErrorReply(id, opcode, st, text, cap, auth, key)?.toString('hex') ?? null);
            if (got !== null) expect(got.length).toBeLessThanOrEqual(cap);
          }
        },
      ),
      { numRuns: 500, seed: SEED },
    );
  });

  it('every output decodes, and its MAC checks, under its own key', () => {
    const key = macKey(DOC_KEY);
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.string({ maxLength: 60 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (id, value, sequence) => {
        const reply = encodeSignedReply({ opcode: Opcode.GET, id, status: Status.OK, value }, { keyId: 9, sequence }, key);
        const auth = decodeReply(reply).details.auth;
        expect(auth && [auth.keyId, auth.sequence]).toEqual([9, sequence]);
        expect(macMatches(reply, (auth as NonNullable<typeof auth>).mac, key)).toBe(true);
      }),
      { numRuns: 200, seed: SEED },
    );
  });
});

describe('single-pass signed encoders: refusals', () => {
  const key = macKey(DOC_KEY);
  const cases: [string, RequestFields, RequestAuthFields, number][] = [
    ['a fractional timestamp', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: 1.5, sequence: 1 }, 1],
    ['a negative timestamp', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: -1, sequence: 1 }, 1],
    ['a timestamp of 2^64', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: 2 ** 64, sequence: 1 }, 1],
    ['a sequence of 2^64', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: 1, sequence: 1n << 64n }, 1],
    ['a NaN sequence', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: 1, sequence: Number.NaN }, 1],
    ['a key id over 16 bits', { opcode: Opcode.GET, id: 1, key: 'k' }, { sender: 1, timestamp: 1, sequence: 1 }, 0x10000],
    ['a request ID over 32 bits, with a bad sequence too', { opcode: Opcode.GET, id: 2 ** 32, key: 'k' }, { sender: 1, timestamp: 1, sequence: -1 }, 1],
    ['a request ID over 32 bits', { opcode: Opcode.GET, id: 2 ** 32, key: 'k' }, { sender: 1, timestamp: 1, sequence: 1 }, 1],
    ['an extension over 255 bytes', { opcode: Opcode.GET, id: 1, key: 'k', extensions: [{ type: 0x7f, data: new Uint8Array(256) }] }, { sender: 1, timestamp: 1, sequence: 1 }, 1],
  ];
  for (const [name, fields, auth, keyId] of cases) {
    it(`encodeSignedRequest refuses ${name} with the two-pass path's error`, () => {
      const want = thrown(() => twoPassRequest(fields, auth, { id: keyId, key }));
      expect(want).not.toBeNull();
      expect(thrown(() => encodeSignedRequest(fields, auth, { id: keyId, key }))).toEqual(want);
    });
  }

  it('a list that already holds an AUTH gives a datagram the decoder refuses as bad_extension', () => {
    const signing: SigningKey = { id: 1, key };
    const request = encodeSignedRequest({ opcode: Opcode.GET, id: 1, key: 'k', extensions: [requestAuthExtension({ keyId: 1, sender: 1, timestamp: 1, sequence: 1 })] }, { sender: 1, timestamp: 1, sequence: 2 }, signing);
    expect(() => decodeRequest(request)).toThrow(expect.objectContaining({ reason: 'bad_extension' }));
    const reply = encodeSignedReply({ opcode: Opcode.GET, id: 1, status: Status.OK, extensions: [replyAuthExtension(1, 1n)] }, { keyId: 1, sequence: 2n }, key);
    expect(() => decodeReply(reply)).toThrow(expect.objectContaining({ reason: 'bad_extension' }));
  });

  it('encodeSignedReply and encodeSignedErrorReply refuse a sequence past 2^64-1 with replyAuthExtension\'s error', () => {
    const auth = { keyId: 1, sequence: 1n << 64n };
    const want = thrown(() => replyAuthExtension(auth.keyId, auth.sequence));
    expect(want).not.toBeNull();
    expect(thrown(() => encodeSignedReply({ opcode: Opcode.GET, id: 1, status: Status.OK }, auth, key))).toEqual(want);
    expect(thrown(() => encodeSignedErrorReply({ id: 1, opcode: Opcode.GET }, Status.MALFORMED, 'BAD_DATAGRAM x', 100, auth, key))).toEqual(want);
  });
});

describe('writeU64 and isU64', () => {
  it('write what u64Data makes, and accept what it accepts (fast-check)', () => {
    const any = fc.oneof(u64, fc.double(), fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), fc.integer());
    fc.assert(
      fc.property(any, (n) => {
        let want: Uint8Array | null = null;
        try {
          want = u64Data('n', n);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
        }
        expect(isU64(n)).toBe(want !== null);
        if (want === null) return;
        const buf = Buffer.alloc(10, 0xee);
        writeU64(buf, 1, n);
        expect(buf.subarray(1, 9)).toEqual(Buffer.from(want));
        expect([buf[0], buf[9]]).toEqual([0xee, 0xee]);
      }),
      { numRuns: 2000, seed: SEED },
    );
  });
});

describe('the decoder\'s AUTH-only path', () => {
  const header = { id: 1, opcode: Opcode.GET };
  // An unknown elective type (bit 7 clear) is skipped, so beside it the same AUTH goes the general way.
  const ELECTIVE = { type: 0x7e, data: new Uint8Array(3) };

  it('reads a request\'s lone AUTH as the general path reads it beside an elective extension (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (keyId, sender, timestamp, sequence) => {
        const auth = requestAuthExtension({ keyId, sender, timestamp, sequence });
        const alone = readRequestOptions([auth], [], 'GET', header);
        const general = readRequestOptions([ELECTIVE, auth], [], 'GET', header);
        expect(alone).toEqual(general);
        expect(alone.auth?.mac.buffer).toBe(auth.data.buffer);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('reads a reply\'s lone AUTH as the general path does', () => {
    const auth = replyAuthExtension(513, 0x0102030405060708n);
    expect(readReplyDetails([auth], header)).toEqual(readReplyDetails([ELECTIVE, auth], header));
    expect(readReplyDetails([auth], header).auth).toMatchObject({ keyId: 513, sequence: 0x0102030405060708n });
  });

  it('still refuses an AUTH of the wrong size, alone', () => {
    const short = { type: RequestExtension.AUTH, data: new Uint8Array(37) };
    expect(() => readRequestOptions([short], [], 'GET', header)).toThrow(expect.objectContaining({ reason: 'bad_extension' }));
    expect(() => readReplyDetails([{ type: ReplyExtension.AUTH, data: new Uint8Array(25) }], header)).toThrow(expect.objectContaining({ reason: 'bad_extension' }));
  });

  it('a signed request decodes to the same fields whether its AUTH is alone or not', () => {
    const key: SigningKey = { id: 1, key: macKey(DOC_KEY) };
    const a = { sender: 5, timestamp: 1767225600000, sequence: 77n };
    const alone = decodeRequest(encodeSignedRequest({ opcode: Opcode.GET, id: 3, key: 'k' }, a, key)).options;
    const beside = decodeRequest(encodeSignedRequest({ opcode: Opcode.GET, id: 3, key: 'k', extensions: [ELECTIVE] }, a, key)).options;
    expect({ ...alone, auth: { ...alone.auth, mac: null } }).toEqual({ ...beside, auth: { ...beside.auth, mac: null } });
  });
});
