/**
 * Splits one command line into arguments by Redis's inline rules (sdssplitargs):
 * - arguments are separated by spaces, tabs, CR, LF or NUL;
 * - "double quoted" arguments understand \xHH, \n, \r, \t, \b, \a and \<any> for <any>;
 * - 'single quoted' arguments understand only \';
 * - a closing quote must be followed by a separator or the end of the line.
 *
 * Works on byte strings (latin1: one char per byte). Returns null for unbalanced
 * quotes, the one way a line can be malformed.
 */
export function splitArgs(line: string): string[] | null {
  const args: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) return args;
    const parsed = readArg(line, i);
    if (parsed === null) return null;
    args.push(parsed.value);
    i = parsed.end;
  }
}

/** Reads one argument starting at `start` (which is not a separator). */
export function readArg(line: string, start: number): { value: string; end: number } | null {
  const n = line.length;
  let i = start;
  const q = line.charCodeAt(i);
  if (q === DQUOTE) {
    let out = '';
    i++;
    for (;;) {
      if (i >= n) return null;
      const c = line.charCodeAt(i);
      if (c === BACKSLASH && i + 3 < n && line.charCodeAt(i + 1) === 0x78 /* x */ && isHex(line.charCodeAt(i + 2)) && isHex(line.charCodeAt(i + 3))) {
        out += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
        i += 4;
      } else if (c === BACKSLASH && i + 1 < n) {
        const e = line[i + 1] as string;
        out += ESCAPES[e] ?? e;
        i += 2;
      } else if (c === DQUOTE) {
        i++;
        if (i < n && !isSpace(line.charCodeAt(i))) return null;
        return { value: out, end: i };
      } else {
        out += line[i];
        i++;
      }
    }
  }
  if (q === SQUOTE) {
    let out = '';
    i++;
    for (;;) {
      if (i >= n) return null;
      const c = line.charCodeAt(i);
      if (c === BACKSLASH && i + 1 < n && line.charCodeAt(i + 1) === SQUOTE) {
        out += "'";
        i += 2;
      } else if (c === SQUOTE) {
        i++;
        if (i < n && !isSpace(line.charCodeAt(i))) return null;
        return { value: out, end: i };
      } else {
        out += line[i];
        i++;
      }
    }
  }
  while (i < n && !isSpace(line.charCodeAt(i))) i++;
  return { value: line.slice(start, i), end: i };
}

const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' };

export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x00;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

/**
 * The inverse for display: a byte string as one double-quoted argument that
 * splitArgs reads back to the same bytes.
 */
export function quoteArg(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) out += '\\"';
    else if (c === BACKSLASH) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c >= 0x20 && c < 0x7f) out += s[i];
    else out += '\\x' + c.toString(16).padStart(2, '0');
  }
  return out + '"';
}
