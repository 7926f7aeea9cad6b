import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoredKey } from '../../src/backend/types.js';
import { parseDocVectors } from '../helpers/doc-vectors.js';

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
        readonly type?: 'PUT' | 'DEL' | 'END' | 'EXPIRE' | 'BATCH' | 'FLUSH';
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

/** Reads every vector on the page (see parseDocVectors for how they are written). */
export function readFormatVectors(): FormatVector[] {
  return parseDocVectors<FormatVector['meta']>(readFileSync(DOC, 'utf8'));
}
