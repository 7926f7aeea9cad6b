import { describe, expect, it } from 'vitest';
import { parseRuntestOutput } from './parse-results.js';

// Lines as runtest prints them with TERM=dumb (taken from real runs against redis-server and dualkv).
const RUN = [
  'Cleanup: may take some time... OK',
  'Starting test server at port 21079',
  '[ready]: 7698',
  'Testing unit/keyspace',
  '[ok]: DEL against a single item (0 ms)',
  '[ok]: Zero length value in key. SET/GET/EXISTS (12 ms)',
  '[err]: KEYS with pattern in tests/unit/keyspace.tcl',
  "n command 'keys', with args beginning with: 'foo*'", // --durable drops 10 characters
  "ERR unknown command 'keys', with args beginning with: 'foo*'",
  '    while executing',
  '"[srv $level "client"] {*}$args"',
  '[skip]: COPY basic usage for list',
  '[ignore]: DEL against expired key: Tag: needs:debug denied',
  '[ignore]: Not supported on external server',
  '[ignore]: MOVE basic usage: Not supported on singledb',
  '[err]: Expected an error outside any test',
  '[ok]: a name with (parentheses) inside (3 ms)',
  '[1/1 done]: unit/keyspace (1 seconds)',
  '',
  '                   The End',
  '',
  'Execution time of different units:',
  '  1 seconds - unit/keyspace',
  '',
  '!!! WARNING The following tests failed:',
  '',
  '*** [err]: KEYS with pattern in tests/unit/keyspace.tcl',
  "ERR unknown command 'keys'",
].join('\n');

describe('parseRuntestOutput', () => {
  const out = parseRuntestOutput(RUN);

  it('reads each case once, with its status, and stops at The End (which repeats the failures)', () => {
    expect(out.cases.map((c) => [c.status, c.name])).toEqual([
      ['ok', 'DEL against a single item'],
      ['ok', 'Zero length value in key. SET/GET/EXISTS'],
      ['err', 'KEYS with pattern'],
      ['skip', 'COPY basic usage for list'],
      ['ignore', 'DEL against expired key'],
      ['ignore', 'MOVE basic usage'],
      ['ok', 'a name with (parentheses) inside'],
    ]);
  });

  it('keeps the detail lines of a failed case', () => {
    const err = out.cases.find((c) => c.status === 'err');
    expect(err?.detail).toContain("ERR unknown command 'keys'");
    expect(err?.detail).toContain('while executing');
  });

  it('tells a test refused by a tag from a whole block refused', () => {
    expect(out.cases.find((c) => c.name === 'DEL against expired key')?.detail).toBe('Tag: needs:debug denied');
    expect(out.ignoredBlocks).toEqual(['Not supported on external server']);
  });

  it('reports an error outside any test as a block error, and the unit as done', () => {
    expect(out.blockErrors).toEqual(['Expected an error outside any test']);
    expect(out).toMatchObject({ done: true, timedOut: false, exception: null });
  });

  it('sees a unit that died or timed out, and one that never said done', () => {
    const died = parseRuntestOutput("[ok]: a (1 ms)\n[exception]: Executing test client: invalid command name \"foo\".\ninvalid command name \"foo\"\n    while executing");
    expect(died.exception).toContain('invalid command name "foo"');
    expect(died.done).toBe(false);

    const stuck = parseRuntestOutput('[ok]: a (1 ms)\n[TIMEOUT]: clients state report follows.\nsock1 => (IN PROGRESS) b\n');
    expect(stuck).toMatchObject({ timedOut: true, done: false });

    expect(parseRuntestOutput('[ok]: a (1 ms)\n').done).toBe(false);
  });

  it('reads CRLF output the same', () => {
    expect(parseRuntestOutput(RUN.replace(/\n/g, '\r\n')).cases).toEqual(out.cases);
  });
});
