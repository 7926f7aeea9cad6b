/**
 * The reference model of the keyspace commands (keyspace-model.ts), plus the string
 * commands of issue 12 that need no floating point or table: INCR, DECR, INCRBY,
 * DECRBY, APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, SETNX, GETSET, TYPE, TOUCH,
 * read the way Redis 7.0's t_string.c does, in plain BigInt arithmetic. (INCRBYFLOAT
 * and LCS are checked against a real redis-server instead:
 * test/frontends/redis-strings-differential.test.ts.)
 *
 * What it adds to the model's checks is their interplay with time and versions:
 * an edit keeps the key's expiry, GETSET and SETNX store without one, an expired
 * key counts as absent, and every write takes a new version.
 */
import { type Expected, KeyspaceModel } from './keyspace-model.js';
import { LLONG_MAX, LLONG_MIN, parseLongLong } from './redis-args.js';

const err = (message: string): Expected => ({ error: `ERR ${message}` });
const NOT_INTEGER = err('value is not an integer or out of range');
const OVERFLOW = err('increment or decrement would overflow');
/** The server's --max-value-size in the model's runs (the default). */
const MAX_VALUE_SIZE = 1024 * 1024;

/** Redis's arities (COMMAND INFO). */
const ARITY: Record<string, number> = {
  incr: 2, decr: 2, incrby: 3, decrby: 3, append: 3, strlen: 2, getrange: 4, substr: 4, setrange: 4,
  setnx: 3, getset: 3, type: 2, touch: -2,
};

export class StringsModel extends KeyspaceModel {
  override execute(args: readonly string[]): Expected {
    const name = (args[0] as string).toLowerCase();
    const arity = ARITY[name];
    if (arity === undefined) return super.execute(args);
    if (arity > 0 ? args.length !== arity : args.length < -arity) return err(`wrong number of arguments for '${name}' command`);
    const key = args[1] as string;
    switch (name) {
      case 'incr':
        return this.incrBy(key, 1n);
      case 'decr':
        return this.incrBy(key, -1n);
      case 'incrby':
      case 'decrby': {
        const by = parseLongLong(args[2] as string);
        if (by === null) return NOT_INTEGER;
        if (name === 'incrby') return this.incrBy(key, by);
        return by === LLONG_MIN ? err('decrement would overflow') : this.incrBy(key, -by);
      }
      case 'append': {
        const value = (this.lookup(key)?.value ?? '') + (args[2] as string);
        // As SETRANGE: a result over --max-value-size is refused, and the key stays as it was.
        if (value.length > MAX_VALUE_SIZE) return tooLarge(value.length);
        this.write(key, value, 'keep');
        return value.length;
      }
      case 'strlen':
        return this.lookup(key)?.value.length ?? 0;
      case 'getrange':
      case 'substr':
        return this.getRange(args);
      case 'setrange':
        return this.setRange(args);
      case 'setnx': {
        if (this.lookup(key) !== undefined) return 0;
        this.write(key, args[2] as string, 0);
        return 1;
      }
      case 'getset': {
        const old = this.lookup(key)?.value ?? null;
        this.write(key, args[2] as string, 0);
        return old;
      }
      case 'type':
        return { status: this.lookup(key) === undefined ? 'none' : 'string' };
      case 'touch':
        return args.slice(1).filter((k) => this.lookup(k) !== undefined).length;
    }
    throw new Error(`the strings model has no command ${name}`);
  }

  private incrBy(key: string, by: bigint): Expected {
    const cur = this.lookup(key);
    const base = cur === undefined ? 0n : parseLongLong(cur.value);
    if (base === null) return NOT_INTEGER;
    const sum = base + by;
    if (sum > LLONG_MAX || sum < LLONG_MIN) return OVERFLOW;
    this.write(key, String(sum), 'keep');
    // As the test's RESP reader reads an integer: a double.
    return Number(sum);
  }

  /** GETRANGE key start end, as getrangeCommand: both indexes first, then the key (missing: empty). */
  private getRange(args: readonly string[]): Expected {
    let start = parseLongLong(args[2] as string);
    let end = parseLongLong(args[3] as string);
    if (start === null || end === null) return NOT_INTEGER;
    const s = this.lookup(args[1] as string)?.value ?? '';
    const len = BigInt(s.length);
    if (start < 0n && end < 0n && start > end) return '';
    if (start < 0n) start += len;
    if (end < 0n) end += len;
    if (start < 0n) start = 0n;
    if (end < 0n) end = 0n;
    if (end >= len) end = len - 1n;
    return start > end || len === 0n ? '' : s.slice(Number(start), Number(end) + 1);
  }

  /** SETRANGE key offset value: the offset first, then the key; nothing to write changes nothing. */
  private setRange(args: readonly string[]): Expected {
    const offset = parseLongLong(args[2] as string);
    if (offset === null) return NOT_INTEGER;
    if (offset < 0n) return err('offset is out of range');
    const key = args[1] as string;
    const part = args[3] as string;
    const old = this.lookup(key)?.value ?? '';
    if (part.length === 0) return old.length;
    const end = offset + BigInt(part.length);
    const length = end > BigInt(old.length) ? end : BigInt(old.length);
    if (length > BigInt(MAX_VALUE_SIZE)) return tooLarge(length);
    const at = Number(offset);
    const value = old.slice(0, at).padEnd(at, '\0') + part + old.slice(at + part.length);
    this.write(key, value, 'keep');
    return value.length;
  }
}

/** The refusal of a result over --max-value-size, in the server's words. */
function tooLarge(length: number | bigint): Expected {
  return err(`string exceeds maximum allowed size (proto-max-bulk-len): the result would be ${length} bytes, over the limit of ${MAX_VALUE_SIZE} bytes (raise --max-value-size)`);
}
