/**
 * What a load run asks for: which operation, on which key, with what value. All
 * of it comes from a seeded generator, so a run with the same --seed (and the
 * same threads) asks for the same operations in the same order.
 */

export const OpKind = { GET: 0, PUT: 1, DEL: 2 } as const;
export type OpKind = (typeof OpKind)[keyof typeof OpKind];
export const OP_NAMES = ['get', 'put', 'del'] as const;
export type OpName = (typeof OP_NAMES)[number];

/** Relative weights of GET, PUT and DEL, as in `--ratio 8:1:1`. */
export interface Ratio {
  readonly get: number;
  readonly put: number;
  readonly del: number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, as in PractRand):
 * 128 bits of state, good statistical quality, and only 32-bit integer steps, so
 * it costs less per call than Math.random and can be seeded.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = stream >>> 0;
    this.d = 1;
    // Mix the seed in before the first number is used.
    for (let i = 0; i < 16; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A whole number in [0, n), for n up to 2^32. */
  below(n: number): number {
    return Math.floor((this.nextU32() / 0x1_0000_0000) * n);
  }
}

/** Key `i` of the key space: `key:` and the index, zero-padded so that every key has the same length. */
export function keyName(i: number, keys: number): string {
  return 'key:' + String(i).padStart(String(Math.max(keys - 1, 0)).length, '0');
}

/**
 * A value of `size` bytes of printable ASCII letters and digits, the same for a
 * given seed. Letters only, so the text dialect sends it raw, with no quoting.
 */
export function makeValue(size: number, seed: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const rng = new Rng(seed, 0x5eed);
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = alphabet.charCodeAt(rng.below(alphabet.length));
  return out;
}

/** Key spaces up to this size keep their key buffers; larger ones make each key when used. */
const KEY_CACHE_LIMIT = 1 << 20;

/**
 * Picks operations and keys. Keys are drawn uniformly from the key space; the
 * key buffers are made once, so the hot loop allocates nothing for them.
 */
export class Workload {
  private readonly rng: Rng;
  private readonly getBelow: number;
  private readonly putBelow: number;
  private readonly total: number;
  private readonly keyCache: Buffer[] = [];
  readonly value: Buffer;

  constructor(
    ratio: Ratio,
    readonly keys: number,
    valueSize: number,
    seed: number,
    stream: number,
  ) {
    this.rng = new Rng(seed, stream);
    this.total = ratio.get + ratio.put + ratio.del;
    this.getBelow = ratio.get;
    this.putBelow = ratio.get + ratio.put;
    this.value = makeValue(valueSize, seed);
  }

  nextOp(): OpKind {
    const r = this.rng.below(this.total);
    return r < this.getBelow ? OpKind.GET : r < this.putBelow ? OpKind.PUT : OpKind.DEL;
  }

  nextKeyIndex(): number {
    return this.rng.below(this.keys);
  }

  /** The bytes of key `i`, made on first use (a run touches at most --keys of them). */
  key(i: number): Buffer {
    if (this.keys > KEY_CACHE_LIMIT) return Buffer.from(keyName(i, this.keys), 'latin1');
    let k = this.keyCache[i];
    if (k === undefined) {
      k = Buffer.from(keyName(i, this.keys), 'latin1');
      this.keyCache[i] = k;
    }
    return k;
  }
}
