/**
 * Redis's glob patterns (stringmatchlen in util.c): `*`, `?`, `[abc]`, `[^a-z]`
 * and `\x`, over byte strings. Used by CONFIG GET now, and by KEYS and SCAN MATCH.
 *
 * Redis's matcher recurses at every `*`, so `***********!` took exponential time
 * (CVE-2022-36021, where it stalled the server). Here the pattern is compiled once
 * into tokens that each match exactly one byte, plus stars, and matched greedily,
 * going back only to the most recent star: no recursion, and at most
 * |pattern| × |string| steps, with no exponential case.
 */

const enum Kind {
  Star,
  Any,
  Byte,
  Class,
}

type Token =
  | { readonly kind: Kind.Star }
  | { readonly kind: Kind.Any }
  | { readonly kind: Kind.Byte; readonly c: number }
  /** `set[c]` is 1 when byte c is in the class (after negation). */
  | { readonly kind: Kind.Class; readonly set: Uint8Array };

export type GlobMatcher = (s: string) => boolean;

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Compiles `pattern`; with `nocase`, ASCII letters match either case (as CONFIG GET does). */
export function compileGlob(pattern: string, nocase = false): GlobMatcher {
  const tokens = tokenize(pattern, nocase);
  if (tokens.length === 1 && tokens[0]?.kind === Kind.Star) return () => true;
  return (s) => matchTokens(tokens, s, nocase);
}

function tokenize(p: string, nocase: boolean): Token[] {
  const tokens: Token[] = [];
  const n = p.length;
  let i = 0;
  while (i < n) {
    const c = p.charCodeAt(i);
    if (c === 0x2a /* * */) {
      // Consecutive stars mean what one star means.
      if (tokens.at(-1)?.kind !== Kind.Star) tokens.push({ kind: Kind.Star });
      i++;
    } else if (c === 0x3f /* ? */) {
      tokens.push({ kind: Kind.Any });
      i++;
    } else if (c === 0x5b /* [ */) {
      i = readClass(p, i + 1, nocase, tokens);
    } else if (c === 0x5c /* \ */ && i + 1 < n) {
      tokens.push({ kind: Kind.Byte, c: nocase ? lower(p.charCodeAt(i + 1)) : p.charCodeAt(i + 1) });
      i += 2;
    } else {
      tokens.push({ kind: Kind.Byte, c: nocase ? lower(c) : c });
      i++;
    }
  }
  return tokens;
}

/**
 * Reads a class starting after its `[`, as stringmatchlen does: `^` first negates,
 * `\x` is x exactly, `a-z` is a range (either order), and a class with no `]`
 * runs to the end of the pattern. Returns the index after the class.
 */
function readClass(p: string, start: number, nocase: boolean, tokens: Token[]): number {
  const n = p.length;
  let i = start;
  const negate = i < n && p.charCodeAt(i) === 0x5e; /* ^ */
  if (negate) i++;
  const set = new Uint8Array(256);
  const add = (c: number) => {
    set[c & 0xff] = 1;
    if (nocase && c >= 0x41 && c <= 0x5a) set[c + 0x20] = 1;
    if (nocase && c >= 0x61 && c <= 0x7a) set[c - 0x20] = 1;
  };
  while (i < n) {
    const c = p.charCodeAt(i);
    if (c === 0x5c /* \ */ && i + 1 < n) {
      set[p.charCodeAt(i + 1) & 0xff] = 1; // Redis compares an escaped byte exactly, even with nocase
      i += 2;
    } else if (c === 0x5d /* ] */) {
      i++;
      break;
    } else if (i + 2 < n && p.charCodeAt(i + 1) === 0x2d /* - */) {
      let lo = c;
      let hi = p.charCodeAt(i + 2);
      if (lo > hi) [lo, hi] = [hi, lo];
      if (nocase) {
        lo = lower(lo);
        hi = lower(hi);
        for (let x = 0; x < 256; x++) if (lower(x) >= lo && lower(x) <= hi) set[x] = 1;
      } else {
        for (let x = lo; x <= hi && x < 256; x++) set[x] = 1;
      }
      i += 3;
    } else {
      add(c);
      i++;
    }
  }
  if (negate) for (let x = 0; x < 256; x++) set[x] = set[x] ? 0 : 1;
  tokens.push({ kind: Kind.Class, set });
  return i;
}

function matchOne(t: Token, c: number, nocase: boolean): boolean {
  switch (t.kind) {
    case Kind.Any:
      return true;
    case Kind.Byte:
      return (nocase ? lower(c) : c) === t.c;
    case Kind.Class:
      return t.set[c & 0xff] === 1;
    case Kind.Star:
      return false;
  }
}

function matchTokens(tokens: readonly Token[], s: string, nocase: boolean): boolean {
  let ti = 0;
  let si = 0;
  // Where to resume after the most recent star: the token after it, and the next byte it may swallow.
  let starT = -1;
  let starS = 0;
  const nt = tokens.length;
  const ns = s.length;
  while (si < ns) {
    const t = tokens[ti];
    if (t !== undefined && t.kind === Kind.Star) {
      starT = ++ti;
      starS = si;
      continue;
    }
    if (t !== undefined && matchOne(t, s.charCodeAt(si), nocase)) {
      ti++;
      si++;
      continue;
    }
    if (starT < 0) return false;
    // Let the star take one more byte, and try the rest from there.
    ti = starT;
    si = ++starS;
  }
  while (ti < nt && tokens[ti]?.kind === Kind.Star) ti++;
  return ti === nt;
}
