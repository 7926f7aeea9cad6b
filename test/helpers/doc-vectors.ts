/** Hex test vectors written in a doc page, as docs/PROTOCOL.md and docs/FORMATS.md write them. */
export interface DocVector<Meta> {
  readonly name: string;
  readonly meta: Meta;
  readonly bytes: Buffer;
}

/**
 * Reads the vectors in `text`: an HTML comment `<!-- vector NAME {json} -->`, then a
 * fenced block of hex bytes, each line's bytes before a `#` comment.
 */
export function parseDocVectors<Meta>(text: string): Array<DocVector<Meta>> {
  const out: Array<DocVector<Meta>> = [];
  const re = /<!-- vector (\S+) (\{.*?\}) -->\n```text\n([\s\S]*?)```/g;
  for (const m of text.matchAll(re)) {
    const hex = (m[3] as string)
      .split('\n')
      .map((line) => line.split('#')[0] as string)
      .join(' ')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const h of hex) if (!/^[0-9a-f]{2}$/.test(h)) throw new Error(`vector ${m[1]}: ${h} is not a hex byte`);
    out.push({ name: m[1] as string, meta: JSON.parse(m[2] as string) as Meta, bytes: Buffer.from(hex.join(''), 'hex') });
  }
  return out;
}
