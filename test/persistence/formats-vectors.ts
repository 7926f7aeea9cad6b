import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoredKey } from '../../src/backend/types.js';

/** One hex test vector from docs/FORMATS.md, with the fields its comment line names. */
export interface FormatVector {
  readonly name: string;
  readonly bytes: Buffer;
  readonly meta:
    | { readonly kind: 'header'; readonly file: 'DKVL' | 'DKVS'; readonly version: number; readonly seq: number }
    | {
        readonly kind: 'record';
        /** The format the record is read by (its file header's version). */
        readonly format: number;
        readonly type?: 'PUT' | 'DEL' | 'END' | 'EXPIRE';
        readonly key?: string;
        /** A binary key, as hex. */
        readonly keyHex?: string;
        readonly value?: string;
        readonly version?: number;
        readonly expiresAt?: number;
        readonly count?: number;
        /** For a record the reader must refuse: its fault, and words its detail holds. */
        readonly fault?: 'malformed' | 'checksum' | 'incomplete';
        readonly detail?: string;
      }
    | { readonly kind: 'snapshot'; readonly seq: number; readonly keys: StoredKey[]; readonly count: number; readonly revision: number };
}

const DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/FORMATS.md');

/**
 * Reads the vectors: an HTML comment `<!-- vector NAME {json} -->`, then a fenced
 * block of hex bytes, each line's bytes before a `#` comment.
 */
export function readFormatVectors(): FormatVector[] {
  const doc = readFileSync(DOC, 'utf8');
  const out: FormatVector[] = [];
  const re = /<!-- vector (\S+) (\{.*?\}) -->\n```text\n([\s\S]*?)```/g;
  for (const m of doc.matchAll(re)) {
    const hex = (m[3] as string)
      .split('\n')
      .map((line) => line.split('#')[0] as string)
      .join(' ')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const h of hex) if (!/^[0-9a-f]{2}$/.test(h)) throw new Error(`vector ${m[1]}: ${h} is not a hex byte`);
    out.push({ name: m[1] as string, meta: JSON.parse(m[2] as string) as FormatVector['meta'], bytes: Buffer.from(hex.join(''), 'hex') });
  }
  return out;
}
