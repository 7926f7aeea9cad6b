import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespDecoder } from '../../src/protocol/resp.js';
import { quoteArg, splitArgs } from '../../src/protocol/split-args.js';
import { bytes, expectEveryChunking, type MakeDecoder } from './feed.js';

/**
 * Redis's inline rules (sds.c sdssplitargs). `args: null` means the line is
 * malformed (unbalanced quotes), which a RESP inline command turns into a
 * protocol error and the text dialect into BAD_QUOTING.
 */
const table: Array<{ name: string; line: string; args: string[] | null }> = [
  { name: 'words separated by spaces', line: 'SET k v', args: ['SET', 'k', 'v'] },
  { name: 'nothing at all', line: '', args: [] },
  { name: 'blanks only', line: ' \t ', args: [] },
  { name: 'blanks around words', line: '  a \t b  ', args: ['a', 'b'] },
  { name: 'vertical tab and form feed between words (C isspace)', line: '\x0ba \x0cb \x0c', args: ['a', 'b'] },
  { name: 'vertical tab inside a word is part of it', line: 'a\x0bb', args: ['a\x0bb'] },
  { name: 'NUL separates words (Redis would stop reading there)', line: 'a\x00b', args: ['a', 'b'] },
  { name: 'a double-quoted word with a space', line: '"a b"', args: ['a b'] },
  { name: 'an empty double-quoted word', line: '""', args: [''] },
  { name: 'an empty single-quoted word', line: "''", args: [''] },
  { name: 'empty words between others', line: 'a "" b', args: ['a', '', 'b'] },
  { name: '\\xHH in upper and lower case', line: '"\\x41\\x6a\\xFF"', args: ['Aj\xff'] },
  { name: '\\x without two hex digits is a plain x', line: '"\\x4g" "\\x4"', args: ['x4g', 'x4'] },
  { name: 'the C escapes \\n \\r \\t \\b \\a', line: '"\\n\\r\\t\\b\\a"', args: ['\n\r\t\b\x07'] },
  { name: 'any other escaped byte is itself', line: '"\\q\\\\\\""', args: ['q\\"'] },
  { name: 'single quotes keep backslashes', line: "'a\\nb'", args: ['a\\nb'] },
  { name: "single quotes understand \\' only", line: "'it\\'s'", args: ["it's"] },
  { name: 'a double quote inside a word opens a quoted part', line: 'a"b c"', args: ['ab c'] },
  { name: 'a single quote inside a word opens a quoted part', line: "a'b c'", args: ['ab c'] },
  { name: 'a quote in the middle of a line of words', line: 'SET k "v 1" x', args: ['SET', 'k', 'v 1', 'x'] },
  { name: 'a vertical tab after a closing quote', line: '"a"\x0bb', args: ['a', 'b'] },
  { name: 'a closing quote followed by a letter', line: '"a"b', args: null },
  { name: 'a closing single quote followed by a letter', line: "'a'b", args: null },
  { name: 'an unclosed double quote', line: 'GET "abc', args: null },
  { name: 'an unclosed single quote', line: "GET 'abc", args: null },
  { name: 'an escaped quote does not close', line: '"abc\\"', args: null },
  { name: 'a backslash at the very end inside quotes', line: '"\\', args: null },
  { name: 'an unclosed quote inside a word', line: "it's", args: null },
];

describe('splitArgs (Redis sdssplitargs rules)', () => {
  for (const row of table) {
    it(`splits ${row.name}`, () => {
      expect(splitArgs(row.line)).toEqual(row.args);
    });
  }

  // The same table as RESP inline commands, each line whole, byte by byte and split at every boundary.
  const makeResp: MakeDecoder = (sink) => new RespDecoder(sink, { maxArgBytes: 1024, maxArgs: 1024, maxLineBytes: 1024, maxRequestBytes: 1024 * 1024 });
  for (const row of table) {
    // A line with CR or LF in it cannot be one inline line; an empty one is no command.
    if (/[\r\n]/.test(row.line)) continue;
    it(`reads ${row.name} as a RESP inline command`, () => {
      const data = bytes(row.line, '\r\n');
      if (row.args === null) expectEveryChunking(makeResp, data, { out: [], thrown: 'PROTOCOL' });
      else expectEveryChunking(makeResp, data, { out: row.args.length ? [row.args] : [] });
    });
  }
});

describe('quoteArg', () => {
  const quoted: Array<[string, string]> = [
    ['', '""'],
    ['a b', '"a b"'],
    ['"\\', '"\\"\\\\"'],
    ['\n\r\t', '"\\n\\r\\t"'],
    ['\x00\x07\x7f\xff', '"\\x00\\x07\\x7f\\xff"'],
  ];
  for (const [raw, out] of quoted) {
    it(`quotes ${JSON.stringify(raw)} as ${out}`, () => {
      expect(quoteArg(raw)).toBe(out);
    });
  }

  const byteString = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1'));

  it('is read back by splitArgs as the same bytes, for any byte string', () => {
    fc.assert(
      fc.property(byteString, (s) => {
        expect(splitArgs(quoteArg(s))).toEqual([s]);
      }),
      { numRuns: 2000 },
    );
  });

  it('lets any list of byte strings travel as one line', () => {
    fc.assert(
      fc.property(fc.array(byteString, { maxLength: 6 }), (words) => {
        const line = words.map(quoteArg).join(' ');
        expect(line).not.toMatch(/[\r\n]/);
        expect(splitArgs(line)).toEqual(words);
      }),
      { numRuns: 1000 },
    );
  });
});
