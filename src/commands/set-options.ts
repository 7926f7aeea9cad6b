import type { Change } from '../backend/types.js';
import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import type { ByteString } from '../store/bytes.js';
import { positiveExpiry } from './expiry-args.js';
import type { CommandContext } from './types.js';

/**
 * The options SET and CAS share (EX/PX/EXAT/PXAT/KEEPTTL, and SET's NX/XX/IFEQ/GET),
 * read as Redis 7 reads them, and the change a value with its expiry makes.
 */

export const syntaxError = (): Reply => errorReply(new KvError('SYNTAX', 'syntax error'));

const DELETE: Change = { kind: 'del' };

/** Setting a key's expiry to `expiresAt`, or deleting it when that is not after `now` (see putUntil). */
export function expireAt(expiresAt: number, now: number): Change {
  return expiresAt <= now ? DELETE : { kind: 'expire', expiresAt };
}

/**
 * Storing `value` until `expiresAt`, or deleting the key when that time is not after
 * `now`, the time the command read its arguments against (Redis's checkAlreadyExpired).
 * The command decides with the one time it read, so that `PX 1` always stores the
 * value, and the backend never needs a clock of its own to apply a change.
 */
export function putUntil(value: ByteString, expiresAt: ExpiryOption, now: number): Change {
  return expiresAt !== 'keep' && expiresAt !== 0 && expiresAt <= now ? DELETE : { kind: 'put', value, expiresAt };
}

/** An expiry option read from the arguments: 'keep' (KEEPTTL), 0 (none given) or an absolute time. */
export type ExpiryOption = number | 'keep';

/** SET's and CAS's options as read (NX, XX, GET and IFEQ only SET's). */
export interface SetOptions {
  nx: boolean;
  xx: boolean;
  get: boolean;
  ifeq: ByteString | undefined;
  expiry: ExpiryOption;
  /** The time the expiry was read against. */
  now: number;
}

/** The expiry options by name, relative (EX, PX) or absolute (EXAT, PXAT): SET's, CAS's and GETEX's. */
export const EXPIRY_UNITS: Record<string, { unit: 's' | 'ms'; relative: boolean }> = {
  EX: { unit: 's', relative: true },
  PX: { unit: 'ms', relative: true },
  EXAT: { unit: 's', relative: false },
  PXAT: { unit: 'ms', relative: false },
};

/**
 * The options from `args[from]` on: EX/PX/EXAT/PXAT/KEEPTTL, and with `conditions`
 * (SET) NX/XX/IFEQ/GET too. Returns the options, or the error reply (Redis checks
 * syntax first, then the time).
 */
export function parseSetOptions(ctx: CommandContext, args: ByteString[], from: number, command: string, conditions: boolean): SetOptions | Reply {
  const o: SetOptions = { nx: false, xx: false, get: false, ifeq: undefined, expiry: 0, now: 0 };
  let timeOpt: string | null = null;
  let timeArg: string | null = null;
  let keepTtl = false;
  for (let i = from; i < args.length; i++) {
    const opt = (args[i] as string).toUpperCase();
    const hasNext = i + 1 < args.length;
    if (conditions && opt === 'NX' && !o.xx && o.ifeq === undefined) o.nx = true;
    else if (conditions && opt === 'XX' && !o.nx && o.ifeq === undefined) o.xx = true;
    else if (conditions && opt === 'GET') o.get = true;
    else if (conditions && opt === 'IFEQ' && hasNext && !o.nx && !o.xx) o.ifeq = args[++i] as string;
    else if (opt === 'KEEPTTL' && timeOpt === null) keepTtl = true;
    else if (opt in EXPIRY_UNITS && hasNext && !keepTtl && (timeOpt === null || timeOpt === opt)) {
      timeOpt = opt;
      timeArg = args[++i] as string;
    } else return syntaxError();
  }
  if (keepTtl) o.expiry = 'keep';
  else if (timeOpt !== null) {
    const u = EXPIRY_UNITS[timeOpt] as { unit: 's' | 'ms'; relative: boolean };
    o.now = ctx.backend.now();
    const at = positiveExpiry(timeArg as string, u.unit, u.relative, o.now, command);
    if (at instanceof KvError) return errorReply(at);
    o.expiry = at;
  }
  return o;
}
