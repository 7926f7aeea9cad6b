import type { StatSection } from '../stats.js';

/** Which sections an INFO asks for (Redis 7.0's genInfoSectionDict): named ones, `default`, or `all`/`everything`. */
export interface InfoSelection {
  readonly all: boolean;
  readonly names: ReadonlySet<string>;
}

/**
 * INFO's arguments as a selection. None is `default`; `all` and `everything` are every
 * section (dualkv loads no modules, so the two are the same); names are case-insensitive.
 * `extraDefault` are sections of dualkv's own, shown with the defaults.
 */
export function selectInfo(args: readonly string[], defaults: ReadonlySet<string>, extraDefault: readonly string[]): InfoSelection {
  const names = new Set<string>();
  let all = false;
  const addDefaults = () => {
    for (const d of defaults) names.add(d);
    for (const d of extraDefault) names.add(d);
  };
  if (args.length === 0) addDefaults();
  for (const raw of args) {
    const a = raw.toLowerCase();
    if (a === 'default') addDefaults();
    else if (a === 'all' || a === 'everything') all = true;
    else names.add(a);
  }
  return { all, names };
}

/** Renders sections the way Redis's INFO does: `# Name` headers, `key:value` lines, CRLF, a blank line between sections. */
export function renderInfo(sections: Record<string, StatSection>, selection?: InfoSelection): string {
  let out = '';
  for (const [name, fields] of Object.entries(sections)) {
    if (selection !== undefined && !selection.all && !selection.names.has(name)) continue;
    if (out) out += '\r\n';
    out += `# ${sectionTitle(name)}\r\n`;
    for (const [k, v] of Object.entries(fields)) out += `${k}:${v}\r\n`;
  }
  return out;
}

/** Redis's capitalisation: `# CPU`, else the first letter (`# Commandstats`). */
function sectionTitle(name: string): string {
  return name === 'cpu' ? 'CPU' : `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}

/** The text dialect's STATS line: `STATS key=value key=value …`, all sections flattened. */
export function renderStatsLine(sections: Record<string, StatSection>): string {
  let out = 'STATS';
  for (const fields of Object.values(sections)) {
    for (const [k, v] of Object.entries(fields)) out += ` ${k}=${String(v).replace(/\s+/g, '_')}`;
  }
  return out;
}
