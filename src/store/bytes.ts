/**
 * Keys and values are binary-safe byte strings. In memory each one is held as a
 * latin1 JS string: every char code is one byte (0-255). V8 stores such strings
 * one byte per char with a small header, which is far more compact than a Buffer
 * per value (a Buffer costs a JS object, a view and a backing-store record), and
 * a string key can go straight into a Map.
 */
export type ByteString = string;

export function bytesToString(buf: Uint8Array, start = 0, end = buf.length): ByteString {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1', start, end);
}

export function stringToBytes(s: ByteString): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A UTF-8 string (as typed by a user) as a byte string. */
export function utf8ToByteString(s: string): ByteString {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** A byte string shown as UTF-8 text (for printing to a terminal). */
export function byteStringToUtf8(s: ByteString): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** Printable ASCII but the backslash, which the slow path escapes so that escapes stay unambiguous. */
function printableShort(s: string, max: number): boolean {
  if (s.length > max) return false;
  // A loop, not a regular expression: this runs for every logged op, on short keys.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x5c) return false;
  }
  return true;
}

/** The bytes of a key that describeKey shows by default (op lines, error texts); the rest is cut. */
export const KEY_SHOWN_BYTES = 64;

/**
 * A key as it may appear in a log line: non-printable bytes escaped as \xHH and
 * anything past `max` bytes cut, with the full length kept.
 */
export function describeKey(key: ByteString, max = KEY_SHOWN_BYTES): string {
  if (printableShort(key, max)) return key;
  const head = key.length > max ? key.slice(0, max) : key;
  let out = '';
  for (let i = 0; i < head.length; i++) {
    const c = head.charCodeAt(i);
    if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += head[i];
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  // ASCII only: the text also goes into error replies, which are written as latin1.
  return key.length > max ? `${out}...(${key.length} bytes)` : out;
}

/** Strings up to this long are copied char by char; longer ones by Buffer#write. */
const SHORT_STRING = 64;

/**
 * Writes the latin1 string `s` (a byte string, or ASCII text) at `at`; returns the end.
 * A short one char by char: Buffer#write is a call into C++ costing about 60 ns
 * whatever the length, against about 15 ns for the loop over a 16-byte key, and a reply
 * or log record is a few short strings (`$3\r\n`, the value, `\r\n`). Chars are bytes
 * here (below 256), so each is stored as it is, as Buffer#write's latin1 does.
 */
export function writeLatin1(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > SHORT_STRING) return at + buf.write(s, at, n, 'latin1');
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i);
  return at + n;
}
