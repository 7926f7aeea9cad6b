/**
 * Splits one command line into arguments by Redis's inline rules (sdssplitargs):
 * - arguments are separated by spaces, tabs, CR, LF or NUL (and, between
 *   arguments, vertical tab and form feed, which C's isspace() also skips);
 * - "double quoted" arguments understand \xHH, \n, \r, \t, \b, \a and \<any> for <any>;
 * - 'single quoted' arguments understand only \';
 * - a quote inside a word opens a quoted part as well (`a"b c"` is `ab c`);
 * - a closing quote must be followed by a separator or the end of the line.
 * One difference: Redis stops reading the line at a NUL (a C string ends
 * there); here a NUL separates arguments like a space.
 *
 * Works on byte strings (latin1: one char per byte). Returns null for unbalanced
 * quotes, the one way a line can be malformed.
 */
export function splitArgs(line: string): string[] | null {
  const args: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && isBlank(line.charCodeAt(i))) i++;
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
  while (i < n) {
    const c = line.charCodeAt(i);
    if (isSpace(c)) break;
    if (c === DQUOTE || c === SQUOTE) {
      // sdssplitargs: a quote, first or inside a word, opens a quoted part that ends the word.
      const part = c === DQUOTE ? readDoubleQuoted(line, i + 1) : readSingleQuoted(line, i + 1);
      if (part === null) return null;
      if (part.end < n && !isBlank(line.charCodeAt(part.end))) return null;
      return { value: line.slice(start, i) + part.value, end: part.end };
    }
    i++;
  }
  return { value: line.slice(start, i), end: i };
}

/** The inside of a "double quoted" part from `i` (after the quote); `end` is after the closing quote. */
function readDoubleQuoted(line: string, i: number): { value: string; end: number } | null {
  const n = line.length;
  let out = '';
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
      return { value: out, end: i + 1 };
    } else {
      out += line[i];
      i++;
    }
  }
}

/** The inside of a 'single quoted' part from `i` (after the quote); only \' is an escape. */
function readSingleQuoted(line: string, i: number): { value: string; end: number } | null {
  const n = line.length;
  let out = '';
  for (;;) {
    if (i >= n) return null;
    const c = line.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < n && line.charCodeAt(i + 1) === SQUOTE) {
      out += "'";
      i += 2;
    } else if (c === SQUOTE) {
      return { value: out, end: i + 1 };
    } else {
      out += line[i];
      i++;
    }
  }
}

const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' };

/** Ends an unquoted word: space, tab, LF, CR, NUL. */
export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x00;
}

/** Skipped between arguments and allowed after a closing quote: isSpace, plus C isspace()'s \v and \f. */
export function isBlank(c: number): boolean {
  return isSpace(c) || c === 0x0b || c === 0x0c;
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
