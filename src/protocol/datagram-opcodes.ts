import type { ByteString } from '../store/bytes.js';
import { RequestExtension as X, type RequestOptions } from './datagram-extensions.js';

/**
 * The one opcode table of the datagram protocol (docs/PROTOCOL.md, udp "Opcodes"):
 * for each opcode, the shape of its key and value, the request extensions it
 * takes, the command line it runs and how it reads an integer reply. The decoder's
 * shape checks and the front-end's command lines both come from here; whether a
 * request is a write (and so goes through the reply cache) is the command's own
 * flag in the command table.
 */

export const Opcode = {
  GET: 0x01,
  PUT: 0x02,
  DEL: 0x03,
  PING: 0x04,
  STATS: 0x05,
  EXPIRE: 0x06,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/**
 * How an opcode takes its key or its value. `required`: always passed on, and an
 * empty one is still one (an empty key is a valid key, as over TCP); `optional`:
 * empty means none; `forbidden`: must be empty (`bad_arguments`).
 */
export type Part = 'required' | 'optional' | 'forbidden';

export interface OpcodeSpec {
  readonly code: Opcode;
  readonly name: keyof typeof Opcode;
  readonly key: Part;
  readonly value: Part;
  /** Request extensions it takes. A critical one it does not take is refused; an elective one is skipped. */
  readonly extensions: readonly number[];
  /** The command line it runs (names as in the command table). */
  readonly args: (key: ByteString, value: ByteString, o: RequestOptions) => ByteString[];
  /** An integer reply: `text`, status OK with the number as its value; `found`, 1 is OK and 0 NOT_FOUND. */
  readonly int: 'text' | 'found';
}

/** PX ms, KEEPTTL or nothing: what a write does to the key's expiry. */
function expiryArgs(o: RequestOptions): ByteString[] {
  if (o.ttlMs !== null) return ['PX', String(o.ttlMs)];
  return o.keepTtl ? ['KEEPTTL'] : [];
}

const SPECS: readonly OpcodeSpec[] = [
  {
    code: Opcode.GET,
    name: 'GET',
    key: 'required',
    value: 'forbidden',
    extensions: [X.WANT_VERSION],
    args: (key, _v, o) => [o.wantVersion ? 'GETVER' : 'GET', key],
    int: 'text',
  },
  {
    code: Opcode.PUT,
    name: 'PUT',
    key: 'required',
    value: 'required',
    extensions: [X.TTL, X.IF_VERSION, X.KEEPTTL],
    args(key, value, o) {
      if (o.ifVersion !== null) return ['CAS', key, String(o.ifVersion), value, ...expiryArgs(o)];
      // PUT, like SET, clears the key's expiry; SET is needed only for PX or KEEPTTL.
      if (o.ttlMs === null && !o.keepTtl) return ['PUT', key, value];
      return ['SET', key, value, ...expiryArgs(o)];
    },
    int: 'text',
  },
  {
    code: Opcode.DEL,
    name: 'DEL',
    key: 'required',
    value: 'forbidden',
    extensions: [X.IF_VERSION],
    args: (key, _v, o) => (o.ifVersion !== null ? ['CAD', key, String(o.ifVersion)] : ['DEL', key]),
    int: 'text',
  },
  {
    code: Opcode.PING,
    name: 'PING',
    key: 'forbidden',
    value: 'optional',
    extensions: [],
    args: (_k, value) => (value.length > 0 ? ['PING', value] : ['PING']),
    int: 'text',
  },
  {
    code: Opcode.STATS,
    name: 'STATS',
    key: 'optional',
    value: 'forbidden',
    extensions: [],
    args: (key) => (key.length > 0 ? ['INFO', key] : ['STATS']),
    int: 'text',
  },
  {
    code: Opcode.EXPIRE,
    name: 'EXPIRE',
    key: 'required',
    value: 'forbidden',
    extensions: [X.TTL],
    args: (key, _v, o) => (o.ttlMs !== null ? ['PEXPIRE', key, String(o.ttlMs)] : ['PERSIST', key]),
    // PEXPIRE and PERSIST answer 1 when they changed the key, 0 when there is no such key (or no TTL to remove).
    int: 'found',
  },
];

/** The table by opcode byte; undefined for an opcode no version-1 server knows. */
const BY_CODE: ReadonlyArray<OpcodeSpec | undefined> = (() => {
  const out = new Array<OpcodeSpec | undefined>(256).fill(undefined);
  for (const s of SPECS) out[s.code] = s;
  return out;
})();

export const OPCODE_SPECS: readonly OpcodeSpec[] = SPECS;

export function opcodeSpec(code: number): OpcodeSpec | undefined {
  return BY_CODE[code];
}

export const OPCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(SPECS.map((s) => [s.code, s.name]));

/** The command line a decoded request runs. */
export function requestArgs(opcode: Opcode, key: ByteString, value: ByteString, o: RequestOptions): ByteString[] {
  return (BY_CODE[opcode] as OpcodeSpec).args(key, value, o);
}
