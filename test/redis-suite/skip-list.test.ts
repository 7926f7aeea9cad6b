import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyFailure, evaluateUnit, firstLine } from './evaluate.js';
import { parseRuntestOutput } from './parse-results.js';
import { entryMatches, parseSkipList, renderSkipFile, SkipListError } from './skip-list.js';

const LIST = [
  '# a comment',
  '',
  'tag | -needs:debug | debug: DEBUG and OBJECT',
  'unit/keyspace | COPY basic usage for list | other-type: lists',
  'unit/keyspace | /^COPY basic usage for (hash|set)$ | other-type: hashes and sets',
  'unit/scan | SSCAN with PATTERN | other-type: sets',
].join('\n');

function refusal(text: string): string {
  try {
    parseSkipList(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SkipListError);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${text}`);
}

describe('the skip list', () => {
  it('reads tags and cases, each with its category', () => {
    const list = parseSkipList(LIST);
    expect(list.tags).toEqual([{ tag: '-needs:debug', category: 'debug', reason: 'debug: DEBUG and OBJECT', line: 3 }]);
    expect(list.cases.map((c) => [c.unit, c.pattern, c.category, c.line])).toEqual([
      ['unit/keyspace', 'COPY basic usage for list', 'other-type', 4],
      ['unit/keyspace', '/^COPY basic usage for (hash|set)$', 'other-type', 5],
      ['unit/scan', 'SSCAN with PATTERN', 'other-type', 6],
    ]);
  });

  it('matches names exactly, or by /regexp, as runtest does', () => {
    const [exact, re] = parseSkipList(LIST).cases;
    expect(entryMatches(exact!, 'COPY basic usage for list')).toBe(true);
    expect(entryMatches(exact!, 'COPY basic usage for list2')).toBe(false);
    expect(entryMatches(re!, 'COPY basic usage for hash')).toBe(true);
    expect(entryMatches(re!, 'COPY basic usage for string')).toBe(false);
  });

  it('renders the --skipfile runtest reads: one pattern a line', () => {
    expect(renderSkipFile(parseSkipList(LIST).cases.slice(0, 2))).toBe('COPY basic usage for list\n/^COPY basic usage for (hash|set)$\n');
  });

  it.each([
    ['unit/keyspace | COPY basic usage for list', /got 2 field/],
    ['unit/keyspace | COPY basic usage for list | lists', /category/],
    ['unit/keyspace |  | other-type: x', /empty/],
    ['keyspace | COPY | other-type: x', /neither "tag" nor a unit/],
    ['tag | needs:debug | debug: x', /-TAG/],
    ['unit/scan | /(unclosed | other-type: x', /regular expression/],
    ['unit/scan | a | other-type: x\nunit/scan | a | other-type: y', /listed twice/],
  ])('refuses %j, saying which line and what is wrong', (text, why) => {
    const msg = refusal(text);
    expect(msg).toMatch(/^skip list line \d+: /);
    expect(msg).toMatch(why);
  });

  it('the checked-in skip-list.txt parses, and every reason has a category', () => {
    const list = parseSkipList(readFileSync(new URL('./skip-list.txt', import.meta.url), 'utf8'));
    expect(list.tags.length).toBeGreaterThan(0);
    expect(list.cases.length).toBeGreaterThan(0);
    for (const c of [...list.tags, ...list.cases]) expect(c.reason.length).toBeGreaterThan(c.category.length + 2);
  });
});

describe('a unit against the skip list', () => {
  const list = parseSkipList(LIST);
  const run = (lines: string[]) => evaluateUnit('unit/keyspace', parseRuntestOutput(lines.join('\n')), list.cases, list.tags);

  it('passes when every case passes or is skipped for a listed reason, and counts skips by category', () => {
    const v = run([
      '[ok]: DEL against a single item (0 ms)',
      '[skip]: COPY basic usage for list',
      '[skip]: COPY basic usage for hash',
      '[ignore]: DEL against expired key: Tag: needs:debug denied',
      '[ignore]: MOVE basic usage: Not supported on singledb',
      '[ignore]: Not supported on external server',
      '[1/1 done]: unit/keyspace (1 seconds)',
    ]);
    expect(v).toMatchObject({ ok: true, passed: 1, skipped: 4, ignoredBlocks: 1, stale: [], failed: [], aborted: [] });
    expect(Object.fromEntries(v.skippedByCategory)).toEqual({ 'other-type': 2, debug: 1, singledb: 1, 'external-skip (block)': 1 });
  });

  it('fails on a failed case', () => {
    const v = run(['[skip]: COPY basic usage for list', '[skip]: COPY basic usage for set', '[err]: KEYS with pattern in tests/unit/keyspace.tcl', 'Expected 1', '[1/1 done]: unit/keyspace (1 seconds)']);
    expect(v.ok).toBe(false);
    expect(v.failed.map((c) => c.name)).toEqual(['KEYS with pattern']);
  });

  it('fails on a listed skip that matched nothing (stale), once the unit ran to its end', () => {
    const v = run(['[ok]: a (1 ms)', '[skip]: COPY basic usage for hash', '[1/1 done]: unit/keyspace (1 seconds)']);
    expect(v.ok).toBe(false);
    expect(v.stale.map((s) => s.pattern)).toEqual(['COPY basic usage for list']);
  });

  it('fails a unit that stopped early, without calling its skips stale', () => {
    const v = run(['[ok]: a (1 ms)', '[TIMEOUT]: clients state report follows.']);
    expect(v).toMatchObject({ ok: false, stale: [] });
    expect(v.aborted).toEqual(['no progress within runtest --timeout; the unit was stopped']);
    expect(run(['[ok]: a (1 ms)']).aborted).toEqual(['runtest did not report the unit done']);
    expect(run(['[err]: oops', '[1/1 done]: unit/keyspace (1 seconds)']).aborted[0]).toMatch(/^error outside a test: oops/);
  });
});

describe('the reason a case failed, for the report', () => {
  it.each([
    ["n command 'keys', with args\nERR unknown command 'keys', with args beginning with: 'foo*'", 'missing command KEYS'],
    ["ERR unknown subcommand or wrong number of arguments for 'CLIENT|LIST'", 'missing subcommand CLIENT|LIST'],
    ["ERR wrong number of arguments for 'mset' command", 'arguments refused by MSET'],
    ["Expected 'a' to equal or match 'b'", 'wrong reply'],
    ['I/O error reading reply', 'connection closed or refused'],
  ])('%j: %s', (detail, reason) => {
    expect(classifyFailure(detail)).toBe(reason);
  });

  it('shows the whole first line of an error that --durable cut short', () => {
    expect(firstLine("n command 'keys', with args\nERR unknown command 'keys', with args\n    while executing")).toBe("ERR unknown command 'keys', with args");
    expect(firstLine("Expected 'a' to be equal to 'b'\n")).toBe("Expected 'a' to be equal to 'b'");
  });
});
