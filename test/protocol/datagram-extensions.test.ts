import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeReply, decodeRequest, encodeReply, encodeRequest, Opcode, Status, type Extension } from '../../src/protocol/datagram.js';
import { DatagramError } from '../../src/protocol/datagram-error.js';
import {
  ReplyExtension,
  replyExtensions,
  RequestExtension,
  requestExtensions,
  u64Data,
  type RequestOptionsInput,
} from '../../src/protocol/datagram-extensions.js';
import { OPCODE_SPECS, opcodeSpec, requestArgs, type OpcodeSpec } from '../../src/protocol/datagram-opcodes.js';

// docs/PROTOCOL.md, udp "Extensions and versions" and "Checks" 10 to 12.

const SEED = 0xe7e0_0011;
const MAX_U64 = (1n << 64n) - 1n;

/** The reason a request is refused for, or 'accepted'. */
function reasonFor(bytes: Buffer): string {
  try {
    decodeRequest(bytes);
    return 'accepted';
  } catch (err) {
    if (!(err instanceof DatagramError)) throw err;
    return err.reason;
  }
}

const ext = (type: number, data: Uint8Array | string = ''): Extension => ({ type, data: typeof data === 'string' ? Buffer.from(data, 'hex') : data });
const u64 = (n: number | bigint) => u64Data('n', n);

/** A request of `opcode` with a key and value it takes, and these extensions. */
function request(opcode: Opcode, extensions: Extension[]): Buffer {
  const spec = opcodeSpec(opcode) as OpcodeSpec;
  return encodeRequest({ opcode, id: 7, key: spec.key === 'forbidden' ? '' : 'k', value: spec.value === 'required' ? 'v' : '', extensions });
}

/** Options an opcode takes, as fast-check draws them: TTL and KEEPTTL never together. */
function optionsFor(spec: OpcodeSpec): fc.Arbitrary<RequestOptionsInput> {
  const takes = (t: number) => spec.extensions.includes(t);
  const u64s = fc.bigInt({ min: 0n, max: MAX_U64 });
  return fc.record(
    {
      ttlMs: takes(RequestExtension.TTL) ? fc.option(u64s, { nil: undefined }) : fc.constant(undefined),
      ifVersion: takes(RequestExtension.IF_VERSION) ? fc.option(u64s, { nil: undefined }) : fc.constant(undefined),
      keepTtl: takes(RequestExtension.KEEPTTL) ? fc.boolean() : fc.constant(false),
      wantVersion: takes(RequestExtension.WANT_VERSION) ? fc.boolean() : fc.constant(false),
    },
    { noNullPrototype: true },
  ).filter((o) => !(o.keepTtl && o.ttlMs !== undefined));
}

describe('request extensions', () => {
  it('round trip (fast-check): every opcode with any extensions it takes decodes to the same options, and re-encodes to the same bytes', () => {
    const cases = fc.constantFrom(...OPCODE_SPECS).chain((spec) =>
      fc.record({ spec: fc.constant(spec), options: optionsFor(spec), id: fc.nat(0xffffffff), key: fc.uint8Array({ maxLength: 40 }), value: fc.uint8Array({ maxLength: 80 }) }),
    );
    fc.assert(
      fc.property(cases, ({ spec, options, id, key, value }) => {
        const extensions = requestExtensions(options);
        const bytes = encodeRequest({
          opcode: spec.code,
          id,
          key: spec.key === 'forbidden' ? undefined : key,
          value: spec.value === 'forbidden' ? undefined : value,
          extensions,
        });
        const d = decodeRequest(bytes);
        expect(d.options).toEqual({
          ttlMs: options.ttlMs === undefined ? null : BigInt(options.ttlMs),
          ifVersion: options.ifVersion === undefined ? null : BigInt(options.ifVersion),
          keepTtl: options.keepTtl ?? false,
          wantVersion: options.wantVersion ?? false,
          auth: null,
        });
        expect(encodeRequest({ opcode: d.opcode, id: d.id, key: d.key, value: d.value, extensions: d.extensions }).equals(bytes)).toBe(true);
      }),
      { numRuns: 3000, seed: SEED },
    );
  });

  it('refuses every unknown critical type (0x85 to 0xff) on every opcode as unsupported_extension', () => {
    for (const spec of OPCODE_SPECS) {
      for (let type = 0x85; type <= 0xff; type++) expect(reasonFor(request(spec.code, [ext(type, 'ab')]))).toBe('unsupported_extension');
    }
  });

  it('skips an unknown elective type, on every opcode', () => {
    for (const spec of OPCODE_SPECS) {
      const d = decodeRequest(request(spec.code, [ext(0x7f, 'cafe'), ext(0x40)]));
      expect(d.options).toEqual({ ttlMs: null, ifVersion: null, keepTtl: false, wantVersion: false, auth: null });
    }
  });

  it('refuses a known critical extension on an opcode that does not take it as unsupported_extension', () => {
    const critical = [RequestExtension.TTL, RequestExtension.IF_VERSION, RequestExtension.KEEPTTL];
    for (const spec of OPCODE_SPECS) {
      for (const type of critical.filter((t) => !spec.extensions.includes(t))) {
        const data = type === RequestExtension.KEEPTTL ? new Uint8Array(0) : u64(5);
        expect({ op: spec.name, type, reason: reasonFor(request(spec.code, [ext(type, data)])) }).toEqual({ op: spec.name, type, reason: 'unsupported_extension' });
      }
    }
    // The ones the table lists as untaken, for the record (docs/PROTOCOL.md, udp "Opcodes").
    expect(reasonFor(request(Opcode.GET, [ext(RequestExtension.TTL, u64(1000))]))).toBe('unsupported_extension');
    expect(reasonFor(request(Opcode.EXPIRE, [ext(RequestExtension.IF_VERSION, u64(3))]))).toBe('unsupported_extension');
    expect(reasonFor(request(Opcode.DEL, [ext(RequestExtension.KEEPTTL)]))).toBe('unsupported_extension');
  });

  it('skips WANT_VERSION (elective) on an opcode that does not take it', () => {
    const d = decodeRequest(request(Opcode.PUT, [ext(RequestExtension.WANT_VERSION)]));
    expect(d.options.wantVersion).toBe(false);
    expect(requestArgs(d.opcode, 'k', 'v', d.options)).toEqual(['PUT', 'k', 'v']);
  });

  it('refuses a known type with the wrong data size, or given twice, as bad_extension', () => {
    expect(reasonFor(request(Opcode.PUT, [ext(RequestExtension.TTL, '0102')]))).toBe('bad_extension');
    expect(reasonFor(request(Opcode.PUT, [ext(RequestExtension.KEEPTTL, '00')]))).toBe('bad_extension');
    expect(reasonFor(request(Opcode.GET, [ext(RequestExtension.WANT_VERSION, 'cafe')]))).toBe('bad_extension');
    expect(reasonFor(request(Opcode.PUT, [ext(RequestExtension.TTL, u64(1)), ext(RequestExtension.TTL, u64(2))]))).toBe('bad_extension');
  });

  it('reports a malformed extension before an unknown critical one, whatever their order (check 10 before 11)', () => {
    expect(reasonFor(request(Opcode.PUT, [ext(0xf0), ext(RequestExtension.TTL, '01')]))).toBe('bad_extension');
    // ...and an unknown critical one before a conflict between known ones (11 before 12).
    expect(reasonFor(request(Opcode.PUT, [ext(RequestExtension.TTL, u64(1)), ext(RequestExtension.KEEPTTL), ext(0xf0)]))).toBe('unsupported_extension');
  });

  it('refuses TTL with KEEPTTL as bad_arguments: they contradict each other', () => {
    expect(reasonFor(request(Opcode.PUT, [ext(RequestExtension.TTL, u64(1000)), ext(RequestExtension.KEEPTTL)]))).toBe('bad_arguments');
  });

  it('refuses a value on EXPIRE, as on GET and DEL', () => {
    expect(reasonFor(encodeRequest({ opcode: Opcode.EXPIRE, id: 1, key: 'k', value: 'v' }))).toBe('bad_arguments');
  });

  it('refuses, in the encoder, a u64 that is negative, fractional, not finite or over 2^64-1', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 64, -1n, 1n << 64n]) expect(() => requestExtensions({ ttlMs: bad })).toThrow(RangeError);
    expect(Buffer.from(u64(MAX_U64)).toString('hex')).toBe('ffffffffffffffff');
    // A whole double past 2^53 (an expiry time a huge TTL gave) is encoded as it stands.
    expect(Buffer.from(u64(2 ** 62)).toString('hex')).toBe('4000000000000000');
  });
});

describe('the opcode table: the command line each request runs', () => {
  const run = (opcode: Opcode, key: string, value: string, o: RequestOptionsInput = {}) => {
    const d = decodeRequest(encodeRequest({ opcode, id: 1, key, value, extensions: requestExtensions(o) }));
    return requestArgs(d.opcode, d.key.toString('latin1'), d.value.toString('latin1'), d.options);
  };

  it('PUT: PUT, SET PX / KEEPTTL, CAS with PX / KEEPTTL', () => {
    expect(run(Opcode.PUT, 'k', 'v')).toEqual(['PUT', 'k', 'v']);
    expect(run(Opcode.PUT, 'k', 'v', { ttlMs: 60_000 })).toEqual(['SET', 'k', 'v', 'PX', '60000']);
    expect(run(Opcode.PUT, 'k', 'v', { keepTtl: true })).toEqual(['SET', 'k', 'v', 'KEEPTTL']);
    expect(run(Opcode.PUT, 'k', 'v', { ifVersion: 0 })).toEqual(['CAS', 'k', '0', 'v']);
    expect(run(Opcode.PUT, 'k', 'v', { ifVersion: 12, ttlMs: 5 })).toEqual(['CAS', 'k', '12', 'v', 'PX', '5']);
    expect(run(Opcode.PUT, 'k', 'v', { ifVersion: 12, keepTtl: true })).toEqual(['CAS', 'k', '12', 'v', 'KEEPTTL']);
    // Past 2^53 the decimal text is exact: the command, not the codec, judges the range.
    expect(run(Opcode.PUT, 'k', 'v', { ttlMs: MAX_U64 })).toEqual(['SET', 'k', 'v', 'PX', '18446744073709551615']);
  });

  it('GET, DEL, EXPIRE, PING and STATS', () => {
    expect(run(Opcode.GET, '', '')).toEqual(['GET', '']);
    expect(run(Opcode.GET, 'k', '', { wantVersion: true })).toEqual(['GETVER', 'k']);
    expect(run(Opcode.DEL, 'k', '')).toEqual(['DEL', 'k']);
    expect(run(Opcode.DEL, 'k', '', { ifVersion: 9 })).toEqual(['CAD', 'k', '9']);
    expect(run(Opcode.EXPIRE, 'k', '', { ttlMs: 1500 })).toEqual(['PEXPIRE', 'k', '1500']);
    expect(run(Opcode.EXPIRE, 'k', '')).toEqual(['PERSIST', 'k']);
    expect(run(Opcode.PING, '', '')).toEqual(['PING']);
    expect(run(Opcode.PING, '', 'hi')).toEqual(['PING', 'hi']);
    expect(run(Opcode.STATS, '', '')).toEqual(['STATS']);
    expect(run(Opcode.STATS, 'udp', '')).toEqual(['INFO', 'udp']);
  });

  it('has one entry per opcode byte, each named as the Opcode constant', () => {
    expect(OPCODE_SPECS.map((s) => [s.name, s.code])).toEqual(Object.entries(Opcode));
  });
});

describe('reply extensions', () => {
  it('round trip (fast-check): VERSION and EXPIRES_AT decode to the numbers encoded', () => {
    fc.assert(
      fc.property(fc.nat(), fc.oneof(fc.constant(0), fc.nat()), fc.constantFrom(Status.OK, Status.CONFLICT), (version, expiresAt, status) => {
        const bytes = encodeReply({ opcode: Opcode.GET, id: 3, status, value: 'v', extensions: replyExtensions(version, expiresAt) });
        const d = decodeReply(bytes);
        expect(d.details).toEqual({ version: BigInt(version), expiresAt: expiresAt === 0 ? null : BigInt(expiresAt), auth: null });
      }),
      { numRuns: 1000, seed: SEED },
    );
  });

  it('refuses an unknown critical type in a reply, and a VERSION of the wrong size; skips an unknown elective one', () => {
    const reply = (extensions: Extension[]) => encodeReply({ opcode: Opcode.GET, id: 3, status: Status.OK, extensions });
    const reason = (b: Buffer) => {
      try {
        decodeReply(b);
        return 'accepted';
      } catch (err) {
        return (err as DatagramError).reason;
      }
    };
    expect(reason(reply([ext(0x90)]))).toBe('unsupported_extension');
    expect(reason(reply([ext(ReplyExtension.VERSION, '0102')]))).toBe('bad_extension');
    expect(decodeReply(reply([ext(0x33, 'ff'), ext(ReplyExtension.VERSION, u64(4))])).details).toEqual({ version: 4n, expiresAt: null, auth: null });
  });
});
