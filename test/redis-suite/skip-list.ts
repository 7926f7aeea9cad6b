/**
 * The checked-in list of Redis-suite cases that cannot apply to dualkv (skip-list.txt), parsed.
 * Pure: text in, entries out. The file's own header explains the format.
 */

export interface SkipEntry {
  /** e.g. `unit/keyspace` */
  readonly unit: string;
  /** The test's exact name, or `/regexp` as runtest's --skipfile takes it. */
  readonly pattern: string;
  /** The category, the word before the first `:` of the reason (e.g. `other-type`). */
  readonly category: string;
  readonly reason: string;
  readonly line: number;
}

export interface TagEntry {
  /** As runtest's --tags takes it: `-needs:debug` denies the tag. */
  readonly tag: string;
  readonly category: string;
  readonly reason: string;
  readonly line: number;
}

export interface SkipList {
  readonly tags: TagEntry[];
  readonly cases: SkipEntry[];
}

export class SkipListError extends Error {
  override readonly name = 'SkipListError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`skip list line ${line}: ${message}`);
  }
}

const SEPARATOR = ' | ';
const CATEGORY = /^([a-z][a-z0-9-]*): \S/;

function splitReason(reason: string, line: number): { category: string; reason: string } {
  const m = CATEGORY.exec(reason);
  if (m === null) throw new SkipListError(line, `the reason must start with a category and a colon ("debug: ..."), got "${reason}"`);
  return { category: m[1] as string, reason };
}

export function parseSkipList(text: string): SkipList {
  const tags: TagEntry[] = [];
  const cases: SkipEntry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const fields = raw.split(SEPARATOR);
    if (fields.length !== 3) {
      throw new SkipListError(line, `expected "unit/NAME | test name | category: reason" or "tag | -TAG | category: reason", got ${fields.length} field(s)`);
    }
    const [first, second, third] = fields.map((f) => f.trim()) as [string, string, string];
    if (second === '') throw new SkipListError(line, 'the test name (or tag) is empty');
    const { category, reason } = splitReason(third, line);
    if (first === 'tag') {
      if (!/^-\S+$/.test(second)) throw new SkipListError(line, `a tag entry denies a tag and is written -TAG, got "${second}"`);
      tags.push({ tag: second, category, reason, line });
      return;
    }
    if (!/^(unit|integration)\/\S+$/.test(first)) throw new SkipListError(line, `"${first}" is neither "tag" nor a unit such as unit/keyspace`);
    const key = `${first}\u0000${second}`;
    if (seen.has(key)) throw new SkipListError(line, `"${second}" is listed twice for ${first}`);
    seen.add(key);
    if (second.startsWith('/')) {
      try {
        new RegExp(second.slice(1));
      } catch (err) {
        throw new SkipListError(line, `"${second}" is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    cases.push({ unit: first, pattern: second, category, reason, line });
  });
  return { tags, cases };
}

/** Whether a test name is the one an entry names, the way runtest's search_pattern_list matches. */
export function entryMatches(entry: Pick<SkipEntry, 'pattern'>, name: string): boolean {
  if (entry.pattern.startsWith('/')) return new RegExp(entry.pattern.slice(1)).test(name);
  return entry.pattern === name;
}

/** The text of a --skipfile for runtest: one pattern a line. */
export function renderSkipFile(entries: readonly SkipEntry[]): string {
  return entries.map((e) => `${e.pattern}\n`).join('');
}
