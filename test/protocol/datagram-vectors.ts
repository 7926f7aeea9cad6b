import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocVectors } from '../helpers/doc-vectors.js';

/** One hex test vector from docs/PROTOCOL.md (udp section), with the fields its comment line names. */
export interface Vector {
  readonly name: string;
  readonly bytes: Buffer;
  readonly meta: {
    readonly kind: 'request' | 'reply';
    readonly id: number;
    readonly opcode?: string;
    readonly key?: string;
    readonly value?: string;
    readonly status?: string;
    /** For replies: the request vector this reply answers. */
    readonly answers?: string;
    /** For requests the server must refuse: the reason. */
    readonly refused?: string;
    readonly extensions?: ReadonlyArray<{ type: number; data: string }>;
    /** For requests: the command line the opcode table makes of it. */
    readonly runs?: readonly string[];
    /** For replies: the VERSION and EXPIRES_AT extensions, as numbers. */
    readonly version?: number;
    readonly expiresAt?: number;
  };
}

const DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../docs/PROTOCOL.md');

/** Reads the vectors of the udp section (see parseDocVectors for how they are written). */
export function readVectors(): Vector[] {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf('<!-- section: udp -->');
  const end = doc.indexOf('<!-- /section: udp -->');
  return parseDocVectors<Vector['meta']>(doc.slice(start, end));
}
