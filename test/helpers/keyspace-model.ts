/**
 * A plain reference model of the keyspace commands, for model-based tests: a Map of
 * value, expiry and version, and a reading of each command's words the way
 * docs/PROTOCOL.md §2.2 and Redis 7 (Valkey for IFEQ and DELIFEQ) describe them.
 * It interprets the same argument words the server gets, so option parsing and
 * error texts are modelled too.
 *
 * Versions are not predicted as numbers: the docs promise only that every write
 * of a key takes a new version from a server-wide revision, higher than any
 * before it. So each write gets a sequence number here, the first reply that shows
 * its version binds the two, and every binding must keep the order of the writes
 * (an earlier write has a lower version, and one write one version).
 *
 * Time is an input: `now` moves only when the test moves the server's clock. A key
 * whose expiry is before `now` is gone for every command; until a command looks
 * it up it still counts in DBSIZE (as Redis's), unless the active sweep may have
 * reclaimed it, which makes those counts a range.
 */
import type { RespValue } from '../frontends/resp-reader.js';
import { CAS_OPTIONS, GETEX_OPTIONS, LLONG_MAX, LLONG_MIN, parseLongLong, readOptions, SET_OPTIONS, TIMES, UINT64_MAX } from './redis-args.js';

/** What a reply must be: a RESP value, or a version, a range or a check that the model cannot state as one value. */
export type Expected =
  | { readonly status: string }
  | { readonly error: string }
  | number
  | string
  | null
  | readonly Expected[]
  /** The version taken by the model's write number `versionOf`. */
  | { readonly versionOf: number }
  | { readonly atLeast: number; readonly atMost: number }
  | { readonly check: (actual: RespValue) => string | null };

interface Stored {
  readonly value: string;
  /** ms since the epoch; 0: none. */
  readonly expiresAt: number;
  /** The model's write number, which stands for the version. */
  readonly write: number;
}

type ErrorReply = { readonly error: string };
const OK: Expected = { status: 'OK' };
const err = (message: string): ErrorReply => ({ error: `ERR ${message}` });
const SYNTAX = err('syntax error');
const NOT_INTEGER = err('value is not an integer or out of range');
const invalidExpire = (command: string): ErrorReply => err(`invalid expire time in '${command}' command`);

/** Redis's arities (COMMAND INFO): N exactly, or -N at least. */
const ARITY: Record<string, number> = {
  get: 2, set: -3, put: 3, setex: 4, psetex: 4, getex: -2, getdel: 2, del: -2, delifeq: 3, exists: -2,
  expire: -3, pexpire: -3, expireat: -3, pexpireat: -3, ttl: 2, pttl: 2, expiretime: 2, pexpiretime: 2,
  persist: 2, getver: 2, cas: -4, cad: 3, dbsize: 1, info: -1,
};

function isExpected(e: Expected, key: string): boolean {
  return typeof e === 'object' && e !== null && !Array.isArray(e) && key in e;
}

export class KeyspaceModel {
  private readonly keys = new Map<string, Stored>();
  private writes = 0;
  private readonly versions = new Map<number, number>();

  /**
   * @param now the server's clock (ms since the epoch)
   * @param sweepMayRun whether the active sweep may reclaim expired keys behind the commands' backs
   */
  constructor(
    public now: number,
    readonly sweepMayRun: boolean,
  ) {}

  // --- what the test driver asks -------------------------------------------------------

  /** The key's version when a reply already showed it; undefined when absent or not seen yet. */
  knownVersion(key: string): number | undefined {
    const s = this.live(key);
    return s === undefined ? undefined : this.versions.get(s.write);
  }

  isLive(key: string): boolean {
    return this.live(key) !== undefined;
  }

  /** Every version a reply has shown so far. */
  seenVersions(): number[] {
    return [...this.versions.values()];
  }

  /** The expiry of a live key (0: none or absent). */
  expiryOf(key: string): number {
    return this.live(key)?.expiresAt ?? 0;
  }

  /** The sweep ran one whole round: every expired key is reclaimed. */
  sweepAll(): void {
    for (const key of [...this.keys.keys()]) this.lookup(key);
  }

  // --- the commands ----------------------------------------------------------------------

  /** What the server must answer to these words. */
  execute(args: readonly string[]): Expected {
    const name = (args[0] as string).toLowerCase();
    const arity = ARITY[name];
    if (arity === undefined) throw new Error(`the model has no command ${name}`);
    if (arity > 0 ? args.length !== arity : args.length < -arity) return err(`wrong number of arguments for '${name}' command`);
    const key = args[1] as string;
    switch (name) {
      case 'get':
        return this.lookup(key)?.value ?? null;
      case 'set':
        return this.set(args);
      case 'put':
        this.write(key, args[2] as string, 0);
        return OK;
      case 'setex':
      case 'psetex': {
        const at = this.positiveTime(args[2] as string, name === 'setex' ? 's' : 'ms', true, name);
        if (typeof at !== 'number') return at;
        this.write(key, args[3] as string, at);
        return OK;
      }
      case 'getex':
        return this.getex(args);
      case 'getdel': {
        const cur = this.lookup(key);
        if (cur !== undefined) this.keys.delete(key);
        return cur?.value ?? null;
      }
      case 'del':
        return args.slice(1).filter((k) => this.lookup(k) !== undefined && this.keys.delete(k)).length;
      case 'exists':
        return args.slice(1).filter((k) => this.lookup(k) !== undefined).length;
      case 'delifeq': {
        const match = this.lookup(key)?.value === args[2];
        if (match) this.keys.delete(key);
        return match ? 1 : 0;
      }
      case 'expire':
      case 'pexpire':
      case 'expireat':
      case 'pexpireat':
        return this.expire(args, name);
      case 'ttl':
      case 'pttl':
      case 'expiretime':
      case 'pexpiretime': {
        const cur = this.lookup(key);
        if (cur === undefined) return -2;
        if (cur.expiresAt === 0) return -1;
        const ms = name.endsWith('expiretime') ? cur.expiresAt : cur.expiresAt - this.now;
        return name.startsWith('p') ? ms : Math.floor((ms + 500) / 1000);
      }
      case 'persist': {
        const cur = this.lookup(key);
        if (cur === undefined || cur.expiresAt === 0) return 0;
        this.write(key, cur.value, 0);
        return 1;
      }
      case 'getver': {
        const cur = this.lookup(key);
        return cur === undefined ? null : [cur.value, { versionOf: cur.write }];
      }
      case 'cas':
      case 'cad':
        return this.compareAndSet(args, name);
      case 'dbsize':
        return this.sizeExpected();
      case 'info':
        return this.infoKeyspace();
    }
    throw new Error(`the model has no command ${name}`);
  }

  /** SET key value [NX|XX|IFEQ old] [GET] [EX|PX|EXAT|PXAT t|KEEPTTL]: Redis 7's option rules, Valkey's IFEQ. */
  private set(args: readonly string[]): Expected {
    const read = this.optionsAndTime(args, 3, SET_OPTIONS, 'set');
    if ('error' in read) return read;
    const { o, at } = read;
    const key = args[1] as string;
    const cur = this.lookup(key);
    const old = cur?.value ?? null;
    const blocked = (o.has('IFEQ') && old !== o.get('IFEQ')) || (o.has('NX') && cur !== undefined) || (o.has('XX') && cur === undefined);
    if (!blocked) this.write(key, args[2] as string, at);
    return o.has('GET') ? old : blocked ? null : OK;
  }

  /** GETEX key [EX|PX|EXAT|PXAT t|PERSIST], in Redis 7.0's order: the syntax, then the key (missing: nil whatever the time), then the time. */
  private getex(args: readonly string[]): Expected {
    const o = readOptions(args, 2, GETEX_OPTIONS);
    if (o === null) return SYNTAX;
    const key = args[1] as string;
    const cur = this.lookup(key);
    if (cur === undefined) return null;
    const at = this.timeOf(o, 'getex');
    if (typeof at === 'object') return at;
    if (at !== 0) this.write(key, cur.value, at as number);
    else if (o.has('PERSIST') && cur.expiresAt !== 0) this.write(key, cur.value, 0);
    return cur.value;
  }

  /** EXPIRE and its kin, as Redis 7's expireGenericCommand: options, then the time, then the key. */
  private expire(args: readonly string[], name: string): Expected {
    const flags = new Set<string>();
    for (const a of args.slice(3)) {
      const opt = a.toUpperCase();
      if (!['NX', 'XX', 'GT', 'LT'].includes(opt)) return err(`Unsupported option ${a}`);
      flags.add(opt);
    }
    if (flags.has('NX') && (flags.has('XX') || flags.has('GT') || flags.has('LT'))) {
      return err('NX and XX, GT or LT options at the same time are not compatible');
    }
    if (flags.has('GT') && flags.has('LT')) return err('GT and LT options at the same time are not compatible');
    const v = parseLongLong(args[2] as string);
    if (v === null) return NOT_INTEGER;
    let when = v;
    if (!name.startsWith('p')) {
      if (when > LLONG_MAX / 1000n || when < LLONG_MIN / 1000n) return invalidExpire(name);
      when *= 1000n;
    }
    if (!name.endsWith('at')) {
      if (when > LLONG_MAX - BigInt(this.now)) return invalidExpire(name);
      when += BigInt(this.now);
    }
    const key = args[1] as string;
    const cur = this.lookup(key);
    if (cur === undefined) return 0;
    const at = Number(when);
    const current = cur.expiresAt; // 0: none, an infinite TTL to GT and LT
    if (flags.has('NX') && current !== 0) return 0;
    if (flags.has('XX') && current === 0) return 0;
    if (flags.has('GT') && (current === 0 || at <= current)) return 0;
    if (flags.has('LT') && current !== 0 && at >= current) return 0;
    // A time not after now deletes the key (0 too, which write() would read as "no expiry").
    if (at <= this.now) this.keys.delete(key);
    else this.write(key, cur.value, at);
    return 1;
  }

  /** CAS key version value [EX|PX|EXAT|PXAT t|KEEPTTL] and CAD key version (docs/PROTOCOL.md §2.2). */
  private compareAndSet(args: readonly string[], name: 'cas' | 'cad'): Expected {
    const word = args[2] as string;
    const expected = /^(?:0|[1-9][0-9]*)$/.test(word) && BigInt(word) <= UINT64_MAX ? BigInt(word) : null;
    if (expected === null) return err('version is not an unsigned 64-bit integer');
    let at: number | 'keep' = 0;
    if (name === 'cas') {
      const read = this.optionsAndTime(args, 4, CAS_OPTIONS, 'cas');
      if ('error' in read) return read;
      at = read.at;
    }
    const key = args[1] as string;
    const cur = this.lookup(key);
    const version: Expected = cur === undefined ? 0 : { versionOf: cur.write };
    const known = cur === undefined ? 0 : this.versions.get(cur.write);
    let applied: boolean;
    if (known !== undefined) applied = BigInt(known) === expected;
    // Versions never repeat and are positive and below 2^53: one shown for another write, 0, or a larger number never matches.
    else if (expected === 0n || expected >= 2n ** 53n || this.seenVersions().some((v) => BigInt(v) === expected)) applied = false;
    else throw new Error(`the test must read ${key}'s version (GETVER) before it compares it with ${word}`);
    if (!applied) return [{ status: 'CONFLICT' }, version];
    if (name === 'cad') {
      this.keys.delete(key);
      return [OK, 0];
    }
    const written = this.write(key, args[3] as string, at);
    return [OK, written === undefined ? 0 : { versionOf: written }];
  }

  /** DBSIZE: every key held, expired ones not yet reclaimed included. */
  private sizeExpected(): Expected {
    const held = this.keys.size;
    return this.sweepMayRun ? { atLeast: this.liveKeys().length, atMost: held } : held;
  }

  /** INFO keyspace: `db0:keys=N,expires=M,avg_ttl=T`, or no line with no keys. */
  private infoKeyspace(): Expected {
    const live = this.liveKeys();
    const held = [...this.keys.values()];
    const keys = this.sweepMayRun ? [live.length, held.length] : [held.length, held.length];
    const volatile = (list: Stored[]) => list.filter((s) => s.expiresAt !== 0).length;
    const expires = this.sweepMayRun ? [volatile(live), volatile(held)] : [volatile(held), volatile(held)];
    const maxTtl = Math.max(0, ...held.map((s) => (s.expiresAt === 0 ? 0 : s.expiresAt - this.now)));
    return {
      check: (actual) => {
        if (typeof actual !== 'string') return `INFO answered ${JSON.stringify(actual)}`;
        const m = /^db0:keys=(\d+),expires=(\d+),avg_ttl=(\d+)\r$/m.exec(actual);
        const [k, e, t] = m === null ? [0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3])];
        const within = (n: number, [lo, hi]: number[]) => n >= (lo as number) && n <= (hi as number);
        if (!within(k, keys) || !within(e, expires) || t > maxTtl) {
          return `INFO keyspace: keys=${k} expires=${e} avg_ttl=${t}; the model: keys ${keys.join('..')}, expires ${expires.join('..')}, avg_ttl at most ${maxTtl}`;
        }
        return null;
      },
    };
  }

  // --- times, as Redis's getExpireMillisecondsOrReply and expireGenericCommand ----------------

  /** The options from `from` on and the expiry they give, or the error to answer (syntax first, then the time). */
  private optionsAndTime(
    args: readonly string[],
    from: number,
    allowed: readonly string[],
    command: string,
  ): { o: Map<string, string>; at: number | 'keep' } | ErrorReply {
    const o = readOptions(args, from, allowed);
    if (o === null) return SYNTAX;
    const at = this.timeOf(o, command);
    return typeof at === 'object' ? at : { o, at };
  }

  /** The expiry the options give: 'keep' (KEEPTTL), 0 (none), an absolute time, or the error. */
  private timeOf(o: Map<string, string>, command: string): number | 'keep' | ErrorReply {
    if (o.has('KEEPTTL')) return 'keep';
    const opt = TIMES.find((t) => o.has(t));
    if (opt === undefined) return 0;
    return this.positiveTime(o.get(opt) as string, opt.startsWith('E') ? 's' : 'ms', !opt.endsWith('AT'), command);
  }

  /** A TTL that must be positive (SET's, GETEX's, SETEX's): the absolute expiry, or the error. */
  private positiveTime(arg: string, unit: 's' | 'ms', relative: boolean, command: string): number | ErrorReply {
    const v = parseLongLong(arg);
    if (v === null) return NOT_INTEGER;
    if (v <= 0n || (unit === 's' && v > LLONG_MAX / 1000n)) return invalidExpire(command);
    let ms = unit === 's' ? v * 1000n : v;
    if (relative) ms += BigInt(this.now);
    if (ms > LLONG_MAX) return invalidExpire(command); // Redis's sum wraps negative here
    return Number(ms);
  }

  // --- the map -------------------------------------------------------------------------

  /** A key lives through its expiry millisecond (Redis's keyIsExpired: gone once now > when). */
  private live(key: string): Stored | undefined {
    const s = this.keys.get(key);
    return s === undefined || (s.expiresAt !== 0 && s.expiresAt < this.now) ? undefined : s;
  }

  private liveKeys(): Stored[] {
    return [...this.keys.keys()].map((k) => this.live(k)).filter((s): s is Stored => s !== undefined);
  }

  /** A command looks the key up: an expired key is reclaimed then. */
  protected lookup(key: string): Stored | undefined {
    const s = this.live(key);
    if (s === undefined) this.keys.delete(key);
    return s;
  }

  /**
   * Stores a value; an expiry not after now deletes the key instead (Redis's
   * checkAlreadyExpired). 'keep' (KEEPTTL) keeps the live key's expiry as it is, even
   * when that is now: the key lives through its expiry millisecond. Returns the
   * write's number, if stored.
   */
  protected write(key: string, value: string, at: number | 'keep'): number | undefined {
    const expiresAt = at === 'keep' ? (this.keys.get(key)?.expiresAt ?? 0) : at;
    if (at !== 'keep' && expiresAt !== 0 && expiresAt <= this.now) {
      this.keys.delete(key);
      return undefined;
    }
    const write = ++this.writes;
    this.keys.set(key, { value, expiresAt, write });
    return write;
  }

  // --- replies -------------------------------------------------------------------------

  /** Why `actual` is not what was expected, or null; binds the versions it shows. */
  match(expected: Expected, actual: RespValue): string | null {
    if (isExpected(expected, 'versionOf')) {
      if (typeof actual !== 'number') return `expected a version, got ${JSON.stringify(actual)}`;
      return this.bind((expected as { versionOf: number }).versionOf, actual);
    }
    if (isExpected(expected, 'atLeast')) {
      const { atLeast, atMost } = expected as { atLeast: number; atMost: number };
      return typeof actual === 'number' && actual >= atLeast && actual <= atMost ? null : `expected ${atLeast}..${atMost}, got ${JSON.stringify(actual)}`;
    }
    if (isExpected(expected, 'check')) return (expected as { check: (a: RespValue) => string | null }).check(actual);
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual) || actual.length !== expected.length) return `expected ${show(expected)}, got ${JSON.stringify(actual)}`;
      for (let i = 0; i < expected.length; i++) {
        const problem = this.match(expected[i] as Expected, actual[i] as RespValue);
        if (problem !== null) return `${problem} (in ${JSON.stringify(actual)})`;
      }
      return null;
    }
    return JSON.stringify(actual) === JSON.stringify(expected) ? null : `expected ${show(expected)}, got ${JSON.stringify(actual)}`;
  }

  /** Binds a write to the version a reply showed for it: one write one version, in the order of the writes. */
  private bind(write: number, version: number): string | null {
    if (!Number.isSafeInteger(version) || version <= 0) return `version ${version} is not a positive integer below 2^53`;
    const known = this.versions.get(write);
    if (known !== undefined) return known === version ? null : `version ${version}, but the same write showed ${known} before`;
    for (const [w, v] of this.versions) {
      if (w < write && v >= version) return `version ${version} is not above ${v}, the version of an earlier write`;
      if (w > write && v <= version) return `version ${version} is not below ${v}, the version of a later write`;
    }
    this.versions.set(write, version);
    return null;
  }
}

function show(e: Expected): string {
  return JSON.stringify(e, (_k, v: unknown) => (typeof v === 'function' ? '<check>' : v));
}
