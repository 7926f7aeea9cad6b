/** INFO's text as sections of fields: `{ server: { uptime_in_seconds: 12, ... }, ... }`. */
export type InfoSections = Record<string, Record<string, string | number>>;

/**
 * Parses the text INFO (and dualkv's STATS over RESP) returns: `# Section`
 * headers, then `field:value` lines, CRLF-separated, as Redis writes it.
 * Section names are lower-cased; a value that is a plain decimal number becomes
 * a number, anything else (`calls=3,usec=10`) stays a string.
 */
export function parseInfo(text: string): InfoSections {
  const out: InfoSections = {};
  let section: Record<string, string | number> = {};
  let named = false;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    if (line.startsWith('#')) {
      section = {};
      out[line.slice(1).trim().toLowerCase()] = section;
      named = true;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (!named) {
      // Fields before any header (not something Redis sends) still get a home.
      out['default'] = section;
      named = true;
    }
    const value = line.slice(colon + 1);
    section[line.slice(0, colon)] = toNumber(value) ?? value;
  }
  return out;
}

/** A decimal that a double holds exactly enough (integers only up to 2^53), else null. */
function toNumber(value: string): number | null {
  if (!/^-?\d+(\.\d+)?$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) || (value.includes('.') && Number.isFinite(n)) ? n : null;
}
