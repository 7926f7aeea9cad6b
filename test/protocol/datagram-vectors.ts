import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/**
 * Reads the vectors: an HTML comment `<!-- vector NAME {json} -->`, then a fenced
 * block of hex bytes, each line's bytes before a `#` comment.
 */
export function readVectors(): Vector[] {
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf('<!-- section: udp -->');
  const end = doc.indexOf('<!-- /section: udp -->');
  const udp = doc.slice(start, end);
  const out: Vector[] = [];
  const re = /<!-- vector (\S+) (\{.*?\}) -->\n```text\n([\s\S]*?)```/g;
  for (const m of udp.matchAll(re)) {
    const hex = (m[3] as string)
      .split('\n')
      .map((line) => line.split('#')[0] as string)
      .join(' ')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const h of hex) if (!/^[0-9a-f]{2}$/.test(h)) throw new Error(`vector ${m[1]}: ${h} is not a hex byte`);
    out.push({ name: m[1] as string, meta: JSON.parse(m[2] as string) as Vector['meta'], bytes: Buffer.from(hex.join(''), 'hex') });
  }
  return out;
}
