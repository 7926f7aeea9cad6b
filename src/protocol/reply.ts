import type { KvError } from '../errors.js';
import type { StatSection } from '../stats.js';
import type { ByteString } from '../store/bytes.js';

/**
 * A command's answer, in meaning rather than words. Each codec picks its own words
 * and bytes for it: `deleted` is `DELETED` to the text dialect, `:1` to RESP and a
 * status byte to UDP. A command never looks at the dialect to phrase a reply.
 */
export type Reply =
  | { readonly t: 'ok' }
  | { readonly t: 'status'; readonly s: string }
  /**
   * A byte string. `verbatim`: text for people (INFO, CLIENT LIST), which RESP3 sends as a
   * verbatim string (`=len\r\ntxt:…`); a bulk string everywhere else.
   */
  | { readonly t: 'bulk'; readonly v: ByteString; readonly verbatim?: true }
  /** No such key (or no value): RESP's null bulk string. */
  | { readonly t: 'nil' }
  /** An integer; a bigint where it may pass 2^53 (INCR and its kin count in 64 bits). */
  | { readonly t: 'int'; readonly n: number | bigint }
  /** DEL and the like: `n` of the `of` keys named were removed. */
  | { readonly t: 'deleted'; readonly n: number; readonly of: number }
  /** A value with its version and expiry (0: none), as GETVER answers. */
  | { readonly t: 'versioned'; readonly v: ByteString; readonly version: number; readonly expiresAt: number }
  /**
   * A compare-and-set by version (CAS, CAD): `applied`, with the key's new version
   * (0 after a delete), or not, with its current version (0: absent).
   */
  | { readonly t: 'cas'; readonly applied: boolean; readonly version: number }
  /** Every statistics section (STATS): the text dialect prints one line, RESP and UDP Redis's INFO text. */
  | { readonly t: 'stats'; readonly sections: Readonly<Record<string, StatSection>> }
  /** A value stored (HTTP PUT): whether the key is new, and its version now. */
  | { readonly t: 'stored'; readonly created: boolean; readonly version: number }
  /** QUIT: the connection closes after it (`BYE`, `+OK`). */
  | { readonly t: 'goodbye' }
  /** `set`: an unordered collection (COMMAND INFO's flags, categories, tips, key specs), RESP3's set (`~`); an array elsewhere. */
  | { readonly t: 'array'; readonly items: readonly Reply[]; readonly set?: true }
  /** Name-value pairs (HELLO, CONFIG GET, LCS … IDX): RESP3's map; a flat array in RESP2 and the text dialect. */
  | { readonly t: 'map'; readonly entries: ReadonlyArray<readonly [Reply, Reply]> }
  /** KEYS (cursor null) and a page of SCAN (the cursor to go on from, '0' at the end): Redis's arrays. */
  | { readonly t: 'keys'; readonly cursor: string | null; readonly keys: readonly ByteString[] }
  /** EXEC: the queued commands' replies, in order; null when a watched key changed and nothing ran (RESP's null array). */
  | { readonly t: 'exec'; readonly items: readonly Reply[] | null }
  /** `rejected`: refused before the command ran (arity, OOM, …), which INFO counts apart from failures. */
  | { readonly t: 'error'; readonly err: KvError; readonly rejected?: boolean };

export const OK: Reply = { t: 'ok' };
export const NIL: Reply = { t: 'nil' };
export const PONG: Reply = { t: 'status', s: 'PONG' };
export const EMPTY_ARRAY: Reply = { t: 'array', items: [] };
export const QUEUED: Reply = { t: 'status', s: 'QUEUED' };

export function errorReply(err: KvError): Reply {
  return { t: 'error', err };
}

/** A command refused before its handler ran (Redis's rejected_calls). */
export function rejectReply(err: KvError): Reply {
  return { t: 'error', err, rejected: true };
}

/** True for a reply that says the key was not there (op lines log it as `not_found`). */
export function isNotFound(r: Reply): boolean {
  return r.t === 'nil' || (r.t === 'deleted' && r.n === 0);
}
