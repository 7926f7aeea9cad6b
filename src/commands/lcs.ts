import type { ByteString } from '../store/bytes.js';

/**
 * The longest common subsequence of two byte strings, as Redis 7.0's LCS computes
 * it (t_string.c lcsCommand): the whole dynamic-programming table, then one walk
 * back from its corner. The walk's tie-break (up when the cell above is larger, else
 * left) decides which of several equally long answers comes out, so it is Redis's.
 */

/** One run of consecutive matching bytes: [start, end] in each string, both inclusive. */
export interface LcsMatch {
  readonly a: readonly [number, number];
  readonly b: readonly [number, number];
  readonly length: number;
}

export interface LcsResult {
  readonly length: number;
  /** The subsequence itself. */
  readonly common: ByteString;
  /** The runs, from the strings' ends to their starts, as Redis emits them. */
  readonly matches: readonly LcsMatch[];
}

/** The table's cells for strings of these lengths: (alen + 1) × (blen + 1). */
export function lcsCells(alen: number, blen: number): number {
  return (alen + 1) * (blen + 1);
}

/** The LCS of `a` and `b`; runs shorter than `minMatchLen` are left out of `matches` (0: none is). */
export function longestCommonSubsequence(a: ByteString, b: ByteString, minMatchLen: number): LcsResult {
  const alen = a.length;
  const blen = b.length;
  const w = blen + 1;
  // LCS(i, j), the length for a[0..i) and b[0..j), at j + w*i. Row 0 and column 0 stay 0.
  const t = new Uint32Array(lcsCells(alen, blen));
  for (let i = 1; i <= alen; i++) {
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= blen; j++) {
      const at = j + w * i;
      if (ca === b.charCodeAt(j - 1)) t[at] = (t[at - w - 1] as number) + 1;
      else {
        const up = t[at - w] as number;
        const left = t[at - 1] as number;
        t[at] = up > left ? up : left;
      }
    }
  }
  const length = t[blen + w * alen] as number;
  const out = new Array<string>(length);
  const matches: LcsMatch[] = [];
  let idx = length;
  // alen as a start means no run is open (Redis's sentinel).
  let aStart = alen;
  let aEnd = 0;
  let bStart = 0;
  let bEnd = 0;
  let i = alen;
  let j = blen;
  while (i > 0 && j > 0) {
    let emit = false;
    if (a.charCodeAt(i - 1) === b.charCodeAt(j - 1)) {
      out[idx - 1] = a[i - 1] as string;
      if (aStart === alen) {
        aStart = aEnd = i - 1;
        bStart = bEnd = j - 1;
      } else if (aStart === i && bStart === j) {
        aStart--;
        bStart--;
      } else emit = true;
      // A run that reached the start of either string ends here: the walk stops next.
      if (aStart === 0 || bStart === 0) emit = true;
      idx--;
      i--;
      j--;
    } else {
      const up = t[j + w * (i - 1)] as number;
      const left = t[j - 1 + w * i] as number;
      if (up > left) i--;
      else j--;
      if (aStart !== alen) emit = true;
    }
    if (emit) {
      const runLength = aEnd - aStart + 1;
      if (minMatchLen === 0 || runLength >= minMatchLen) matches.push({ a: [aStart, aEnd], b: [bStart, bEnd], length: runLength });
      aStart = alen;
    }
  }
  return { length, common: out.join(''), matches };
}
