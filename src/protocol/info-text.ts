import type { StatSection } from '../stats.js';

/** Renders sections the way Redis's INFO does: `# Name` headers and `key:value` lines. */
export function renderInfo(sections: Record<string, StatSection>, only?: string): string {
  const want = only?.toLowerCase();
  const all = want === undefined || want === 'all' || want === 'everything' || want === 'default';
  let out = '';
  for (const [name, fields] of Object.entries(sections)) {
    if (!all && name !== want) continue;
    if (out) out += '\r\n';
    out += `# ${name.charAt(0).toUpperCase()}${name.slice(1)}\r\n`;
    for (const [k, v] of Object.entries(fields)) out += `${k}:${v}\r\n`;
  }
  return out;
}

/** The text dialect's STATS line: `STATS key=value key=value …`, all sections flattened. */
export function renderStatsLine(sections: Record<string, StatSection>): string {
  let out = 'STATS';
  for (const fields of Object.values(sections)) {
    for (const [k, v] of Object.entries(fields)) out += ` ${k}=${String(v).replace(/\s+/g, '_')}`;
  }
  return out;
}

