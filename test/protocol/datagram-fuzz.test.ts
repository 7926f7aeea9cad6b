import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomInt, seededRandom, type Random } from '../../clients/lib/chaos-random.js';
import {
  datagramCrc,
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  MIN_DATAGRAM_SIZE,
  Opcode,
  Status,
  type DatagramReply,
  type DatagramRequest,
  type Extension,
} from '../../src/protocol/datagram.js';
import { DatagramError, REJECT_REASONS } from '../../src/protocol/datagram-error.js';

const SEED = 0x5eed_da7a;
const REASONS = new Set<string>(REJECT_REASONS);
const MAX = 1400;

type Outcome = { ok: true; value: DatagramRequest | DatagramReply } | { ok: false; reason: string };

/** Runs a decoder; anything thrown that is not the codec's own error fails the test. */
function attempt(decode: (b: Buffer) => DatagramRequest | DatagramReply, bytes: Buffer): Outcome {
  try {
    return { ok: true, value: decode(bytes) };
  } catch (err) {
    if (!(err instanceof DatagramError)) throw new Error(`decoder threw ${String(err)} for ${bytes.toString('hex')}`, { cause: err });
    // Plain checks rather than expect(): this runs a quarter of a million times.
    if (err.code !== 'BAD_DATAGRAM' || !REASONS.has(err.reason)) throw new Error(`unexpected error ${err.code}/${err.reason}`);
    return { ok: false, reason: err.reason };
  }
}

function randomBytes(r: Random, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = randomInt(r, 256);
  return b;
}

const OPCODES = Object.values(Opcode);

function randomExtensions(r: Random): Extension[] | undefined {
  if (r() < 0.8) return undefined;
  return Array.from({ length: 1 + randomInt(r, 3) }, () => ({ type: randomInt(r, 256), data: randomBytes(r, randomInt(r, 6)) }));
}

function randomRequest(r: Random): Buffer {
  const opcode = OPCODES[randomInt(r, OPCODES.length)] as Opcode;
  return encodeRequest({
    opcode,
    id: randomInt(r, 2 ** 32),
    key: randomBytes(r, randomInt(r, 40)),
    value: r() < 0.5 ? randomBytes(r, randomInt(r, 200)) : undefined,
    extensions: randomExtensions(r),
  });
}

function randomReply(r: Random): Buffer {
  const statuses = Object.values(Status);
  return encodeReply({
    opcode: randomInt(r, 256),
    id: randomInt(r, 2 ** 32),
    status: statuses[randomInt(r, statuses.length)] as Status,
    value: randomBytes(r, randomInt(r, 200)),
    extensions: randomExtensions(r),
  });
}

/** Rewrites the CRC trailer so the damage gets past check 4 and the later checks are exercised. */
function fixCrc(b: Buffer): Buffer {
  if (b.length >= MIN_DATAGRAM_SIZE) b.writeUInt32BE(datagramCrc(b, b.length - 4), b.length - 4);
  return b;
}

/** One mutation of a valid datagram. Returns the bytes and whether the CRC was left as it was. */
function mutate(r: Random, valid: Buffer): { bytes: Buffer; crcKept: boolean } {
  const b = Buffer.from(valid);
  switch (randomInt(r, 7)) {
    case 0: {
      // 1 to 3 bit flips anywhere: the CRC must catch them
      const bits = new Set<number>();
      const want = 1 + randomInt(r, 3);
      while (bits.size < want) bits.add(randomInt(r, b.length * 8));
      for (const bit of bits) b[bit >> 3] = (b[bit >> 3] as number) ^ (0x80 >> (bit & 7));
      return { bytes: b, crcKept: true };
    }
    case 1: // cut short
      return { bytes: b.subarray(0, randomInt(r, b.length)), crcKept: true };
    case 2: // bytes added
      return { bytes: Buffer.concat([b, randomBytes(r, 1 + randomInt(r, 8))]), crcKept: true };
    case 3: {
      // a header byte replaced, CRC recomputed
      b[2 + randomInt(r, 16)] = randomInt(r, 256);
      return { bytes: fixCrc(b), crcKept: false };
    }
    case 4: {
      // a length field rewritten, CRC recomputed
      const field = [10, 12, 14][randomInt(r, 3)] as number;
      if (field === 14) b.writeUInt32BE(randomInt(r, 2 ** 32), 14);
      else b.writeUInt16BE(randomInt(r, 2 ** 16), field);
      return { bytes: fixCrc(b), crcKept: false };
    }
    case 5: {
      // a run of random bytes over the body, CRC recomputed
      const at = 18 + randomInt(r, Math.max(1, b.length - 22));
      randomBytes(r, 1 + randomInt(r, 8)).copy(b, Math.min(at, b.length - 4));
      return { bytes: fixCrc(b), crcKept: false };
    }
    default: // truncated or extended, then the CRC recomputed over what is left
      return { bytes: fixCrc(Buffer.concat([b.subarray(0, randomInt(r, b.length)), randomBytes(r, randomInt(r, 4))])), crcKept: false };
  }
}

describe('datagram decoder fuzzing', () => {
  it('fast-check: arbitrary bytes give a request, a reply or a DatagramError, nothing else', () => {
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ minLength: 18, maxLength: 300 }).map((b) => {
        const buf = Buffer.from(b);
        buf[0] = 0x44; // our magic, so the later checks are reached
        buf[1] = 0x4b;
        return fixCrc(buf);
      }),
    );
    fc.assert(
      fc.property(anyBytes, (b) => {
        const buf = Buffer.from(b);
        attempt((x) => decodeRequest(x, MAX), buf);
        attempt((x) => decodeReply(x, MAX), buf);
      }),
      { numRuns: 10_000, seed: SEED },
    );
  });

  it('seeded: 120k mutated and random datagrams; what is accepted re-encodes to itself, damage is always refused', () => {
    const r = seededRandom(SEED);
    const reasons = new Map<string, number>();
    let accepted = 0;
    let runs = 0;
    for (let i = 0; i < 120_000; i++) {
      const asReply = i % 4 === 3;
      const valid = asReply ? randomReply(r) : randomRequest(r);
      const { bytes, crcKept } = i % 10 === 9 ? { bytes: randomBytes(r, randomInt(r, 120)), crcKept: true } : mutate(r, valid);
      const out = attempt(asReply ? (x) => decodeReply(x, MAX) : (x) => decodeRequest(x, MAX), bytes);
      runs++;
      if (!out.ok) {
        reasons.set(out.reason, (reasons.get(out.reason) ?? 0) + 1);
        continue;
      }
      // Unchanged bytes under a kept CRC can only mean the mutation was a no-op (e.g. a flip pair cancelling).
      if (crcKept && !bytes.equals(valid)) throw new Error(`damage got past the CRC: ${bytes.toString('hex')}`);
      accepted++;
      const v = out.value;
      const again =
        'crc' in v
          ? encodeRequest({ opcode: v.opcode, id: v.id, key: v.key, value: v.value, extensions: v.extensions })
          : encodeReply({ opcode: v.opcode, id: v.id, status: v.status as Status, value: v.value, extensions: v.extensions, version: v.version });
      if (!again.equals(bytes)) throw new Error(`accepted ${bytes.toString('hex')} but it re-encodes as ${again.toString('hex')}`);
    }
    expect(runs).toBeGreaterThanOrEqual(100_000);
    // The run reached every kind of refusal, and accepted some datagrams too.
    expect([...reasons.keys()].sort()).toEqual(
      ['bad_arguments', 'bad_checksum', 'bad_extension', 'bad_header', 'bad_magic', 'bad_version', 'trailing', 'truncated', 'unknown_opcode', 'unsupported_extension', 'wrong_direction'].sort(),
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('refuses a datagram over the size limit as oversize, before reading it', () => {
    const big = encodeRequest({ opcode: Opcode.PUT, id: 1, key: 'k', value: Buffer.alloc(MAX) });
    expect(attempt((x) => decodeRequest(x, MAX), big)).toEqual({ ok: false, reason: 'oversize' });
  });
});
