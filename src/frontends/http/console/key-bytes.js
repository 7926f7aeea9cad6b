// Keys and values as bytes. docs/HTTP.md §2: a key in a URL is percent-encoded byte by byte;
// the server writes the unreserved bytes (A-Z a-z 0-9 - . _ ~) and `/` as they are, every other
// byte as %XX. The console writes keys the same way, so a key it lists goes back unchanged.

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();

/** The UTF-8 bytes of a string. */
export function utf8Bytes(text) {
  return UTF8_ENCODER.encode(text);
}

/** The bytes as text when they are valid UTF-8, else null. */
export function utf8OrNull(bytes) {
  try {
    return UTF8_STRICT.decode(bytes);
  } catch {
    return null;
  }
}

function isUnreserved(b) {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e || b === 0x2f;
}

/** docs/HTTP.md §2: bytes as a path part or query value. */
export function encodeKeyBytes(bytes) {
  let out = '';
  for (const b of bytes) out += isUnreserved(b) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

/** A percent-encoded key (as the listing gives it) back to its bytes; null for a bad escape. */
export function decodeKeyPath(encoded) {
  const out = [];
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c !== 0x25) {
      // Only ASCII comes from the server; anything else is taken as its UTF-8 bytes.
      if (c < 0x80) out.push(c);
      else out.push(...utf8Bytes(encoded[i]));
      continue;
    }
    const hex = encoded.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Uint8Array.from(out);
}

/**
 * How a key is shown: its text when it is UTF-8 with no control characters, else its bytes
 * with every one outside printable ASCII as \xNN (and `binary` true, so the page can mark it).
 */
export function describeKey(encoded) {
  const bytes = decodeKeyPath(encoded) ?? utf8Bytes(encoded);
  const text = utf8OrNull(bytes);
  if (text !== null && !/[\u0000-\u001f\u007f]/.test(text)) return { text, binary: false };
  let shown = '';
  for (const b of bytes) shown += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
  return { text: shown, binary: true };
}

/** Bytes as hex pairs, 16 to a line. */
export function toHex(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push(Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

/** Hex pairs (any whitespace between) back to bytes; null when it is not that. */
export function parseHex(text) {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) return null;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Whether a value can be edited as text and saved back byte for byte: valid UTF-8, and no
 * carriage return (a textarea turns CR LF into LF).
 */
export function editableText(bytes) {
  const text = utf8OrNull(bytes);
  return text === null || text.includes('\r') ? null : text;
}

/** A byte count for people: 512 B, 1.5 KiB, 3.2 MiB. */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
