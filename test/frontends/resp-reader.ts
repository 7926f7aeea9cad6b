import type { RawClient } from '../helpers/socket.js';

/**
 * A RESP2 reply reader (and RESP3's null, map, set and verbatim string) for tests over
 * raw sockets, independent of the server's codec so that it checks the bytes rather than
 * agreeing with them.
 * Replies are read from a latin1 string (one char per byte).
 */
export type RespValue = { status: string } | { error: string } | number | string | null | RespValue[];

/** One reply starting at `off`, or null when the bytes end first. */
export function readReply(s: string, off: number): { value: RespValue; end: number } | null {
  const nl = s.indexOf('\r\n', off);
  if (nl < 0) return null;
  const type = s[off];
  const line = s.slice(off + 1, nl);
  const after = nl + 2;
  switch (type) {
    case '+':
      return { value: { status: line }, end: after };
    case '-':
      return { value: { error: line }, end: after };
    case ':':
      return { value: Number(line), end: after };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: after };
      if (s.length < after + len + 2) return null;
      if (s.slice(after + len, after + len + 2) !== '\r\n') throw new Error(`bulk of ${len} not followed by CRLF at ${after + len}`);
      return { value: s.slice(after, after + len), end: after + len + 2 };
    }
    case '=': {
      // RESP3's verbatim string: `=len\r\ntxt:…`, the length counting the format and its colon; read as the text.
      const len = Number(line);
      if (s.length < after + len + 2) return null;
      if (s.slice(after + len, after + len + 2) !== '\r\n') throw new Error(`verbatim of ${len} not followed by CRLF at ${after + len}`);
      if (s[after + 3] !== ':') throw new Error(`verbatim string without a format at ${after}`);
      return { value: s.slice(after + 4, after + len), end: after + len + 2 };
    }
    case '_': // RESP3's null
      return { value: null, end: after };
    case '%': // RESP3's map, read as RESP2 sends it: a flat array of names and values
    case '~': // RESP3's set, read as an array
    case '*': {
      const n = type === '%' ? 2 * Number(line) : Number(line);
      if (n < 0) return { value: null, end: after };
      const items: RespValue[] = [];
      let at = after;
      for (let i = 0; i < n; i++) {
        const item = readReply(s, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not a RESP reply at byte ${off}: ${JSON.stringify(s.slice(off, off + 40))}`);
  }
}

/** Every complete reply in `s`, and where the incomplete rest starts. */
export function readReplies(s: string): { values: RespValue[]; end: number } {
  const values: RespValue[] = [];
  let off = 0;
  while (off < s.length) {
    const r = readReply(s, off);
    if (r === null) break;
    values.push(r.value);
    off = r.end;
  }
  return { values, end: off };
}

/** Waits for `n` complete replies on a raw client (counting from its first byte). */
export async function respReplies(c: RawClient, n: number): Promise<RespValue[]> {
  let got: RespValue[] = [];
  await c.until((r) => {
    got = readReplies(r).values;
    return got.length >= n;
  }, 20_000);
  return got;
}

/** Encodes one request as a RESP multibulk (latin1 byte strings). */
export function multibulk(...words: string[]): Buffer {
  let out = `*${words.length}\r\n`;
  for (const w of words) out += `$${w.length}\r\n${w}\r\n`;
  return Buffer.from(out, 'latin1');
}

/** A byte string of every byte value 0..255, in order. */
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');

/**
 * Sends one request and waits for its reply, both as the raw bytes and as a value.
 * For a client that has no other request in flight: the reply starts where the bytes
 * received so far end.
 */
export async function request(c: RawClient, ...words: string[]): Promise<{ raw: string; value: RespValue }> {
  const from = c.received.length;
  c.write(multibulk(...words));
  await c.until((r) => readReply(r, from) !== null, 20_000);
  const { value, end } = readReply(c.received, from) as { value: RespValue; end: number };
  return { raw: c.received.slice(from, end), value };
}
