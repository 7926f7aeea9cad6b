/**
 * Arguments as Redis 7 reads them, for the reference model of the keyspace commands
 * (keyspace-model.ts): integers (util.c string2ll) and the extended options of SET,
 * GETEX and CAS.
 */

export const LLONG_MAX = 9223372036854775807n;
export const LLONG_MIN = -9223372036854775808n;
export const UINT64_MAX = 18446744073709551615n;
export const TIMES = ['EX', 'PX', 'EXAT', 'PXAT'];

/**
 * The extended options of SET, GETEX and CAS, as a table in the manner of Redis's
 * parseExtendedStringArgumentsOrReply (t_string.c): whether an option takes a word,
 * and which options it cannot follow. An option may repeat; the last word wins.
 */
const OPTIONS: Readonly<Record<string, { readonly word: boolean; readonly notAfter: readonly string[] }>> = {
  NX: { word: false, notAfter: ['XX', 'IFEQ'] },
  XX: { word: false, notAfter: ['NX', 'IFEQ'] },
  GET: { word: false, notAfter: [] },
  IFEQ: { word: true, notAfter: ['NX', 'XX', 'IFEQ'] },
  KEEPTTL: { word: false, notAfter: ['PERSIST', ...TIMES] },
  PERSIST: { word: false, notAfter: ['KEEPTTL', ...TIMES] },
  ...Object.fromEntries(TIMES.map((t) => [t, { word: true, notAfter: ['KEEPTTL', 'PERSIST', ...TIMES.filter((o) => o !== t)] }])),
};
export const SET_OPTIONS = ['NX', 'XX', 'GET', 'IFEQ', 'KEEPTTL', ...TIMES];
export const GETEX_OPTIONS = ['PERSIST', ...TIMES];
export const CAS_OPTIONS = ['KEEPTTL', ...TIMES];

/** The options given from `from` on, each with its word, or null for a syntax error. */
export function readOptions(args: readonly string[], from: number, allowed: readonly string[]): Map<string, string> | null {
  const given = new Map<string, string>();
  for (let i = from; i < args.length; i++) {
    const name = (args[i] as string).toUpperCase();
    const o = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
    if (o === undefined || !allowed.includes(name) || o.notAfter.some((n) => given.has(n)) || (o.word && i + 1 === args.length)) return null;
    given.set(name, o.word ? (args[++i] as string) : '');
  }
  return given;
}

/** A 64-bit signed integer as Redis's string2ll reads it (no sign but '-', no leading zeros), or null. */
export function parseLongLong(s: string): bigint | null {
  if (!/^(?:0|-?[1-9][0-9]*)$/.test(s)) return null;
  const v = BigInt(s);
  return v > LLONG_MAX || v < LLONG_MIN ? null : v;
}
