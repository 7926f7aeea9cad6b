import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type ErrorCode, KvError } from '../../src/errors.js';
import { EMPTY_ARRAY, NIL, OK, PONG, type Reply } from '../../src/protocol/reply.js';
import { ReplyWriter } from '../../src/protocol/reply-writer.js';
import type { DecoderLimits } from '../../src/protocol/sink.js';
import { encodeTextReply, formatTextValue, parseTextLine, TextLineDecoder } from '../../src/protocol/text.js';
import { bytes, decodeChunks, type Decoded, expectEveryChunking, type MakeDecoder, reject } from './feed.js';

// A small line limit so that fixtures can cross it in a few bytes.
const LIMITS: DecoderLimits = { maxArgBytes: 1024, maxArgs: 1024, maxLineBytes: 24, maxRequestBytes: 1024 * 1024 };
const makeText: MakeDecoder = (sink) => new TextLineDecoder(sink, LIMITS);

const fixtures: Array<{ name: string; bytes: Buffer; out: Decoded[] }> = [
  {
    name: 'PUT whose value is the rest of the line',
    bytes: bytes('PUT k hello world\n'),
    out: [['PUT', 'k', 'hello world']],
  },
  {
    name: 'a line ended by CRLF (the CR is dropped)',
    bytes: bytes('GET k\r\n'),
    out: [['GET', 'k']],
  },
  {
    name: 'a lower-case command, passed on as typed (dispatch ignores case)',
    bytes: bytes('put k v\n'),
    out: [['put', 'k', 'v']],
  },
  {
    name: 'a PUT value keeping its inner, leading and trailing spaces',
    bytes: bytes(
      'PUT k ', // the key and one space
      ' a  b ', // the value, spaces and all
      '\n',
    ),
    out: [['PUT', 'k', ' a  b ']],
  },
  {
    name: 'SET, which is rest-of-line as PUT is',
    bytes: bytes('SET k v NX\n'),
    out: [['SET', 'k', 'v NX']],
  },
  {
    name: 'a quoted value with escapes',
    bytes: bytes(
      'PUT k ',
      '"a\\nb\\x00\\""', // "a\nb\x00\"" -> a<LF>b<NUL>"
      '\n',
    ),
    out: [['PUT', 'k', 'a\nb\x00"']],
  },
  {
    name: 'a quoted value followed by blanks',
    bytes: bytes('PUT k "v"  \r\n'),
    out: [['PUT', 'k', 'v']],
  },
  {
    name: 'a quoted key',
    bytes: bytes('PUT "a b" v\n'),
    out: [['PUT', 'a b', 'v']],
  },
  {
    name: 'a value starting with a single quote, taken as it is',
    bytes: bytes("PUT k 'v'\n"),
    out: [['PUT', 'k', "'v'"]],
  },
  {
    name: 'PUT with no value (left to the arity check)',
    bytes: bytes('PUT k\n'),
    out: [['PUT', 'k']],
  },
  {
    name: 'PUT with one space after the key: the empty value',
    bytes: bytes('PUT k \n'),
    out: [['PUT', 'k', '']],
  },
  {
    name: 'other commands split into words by the inline rules',
    bytes: bytes('DEL a "b c"\tx\n'),
    out: [['DEL', 'a', 'b c', 'x']],
  },
  {
    name: 'blank lines, which are not commands, also when blank with \\v or \\f (fast-check found \\v\\r\\n)',
    bytes: bytes('\n', '   \n', '\r\n', '\x0b\r\n', ' \x0c\t\n', 'PING\n'),
    out: [['PING']],
  },
  {
    name: 'pipelined lines',
    bytes: bytes('PUT a 1\n', 'GET a\n', 'DEL a\n'),
    out: [['PUT', 'a', '1'], ['GET', 'a'], ['DEL', 'a']],
  },
  {
    name: 'an unbalanced quote: that line is refused, the next is read',
    bytes: bytes('GET "k\n', 'GET k\n'),
    out: [reject('BAD_QUOTING'), ['GET', 'k']],
  },
  {
    name: 'an unbalanced quoted key in PUT',
    bytes: bytes('PUT "k v\n'),
    out: [reject('BAD_QUOTING')],
  },
  {
    name: 'an unbalanced quoted value in PUT',
    bytes: bytes('PUT k "v\n'),
    out: [reject('BAD_QUOTING')],
  },
  {
    name: 'words after a quoted value: options (SET k "v" NX EX 10)',
    bytes: bytes('SET k "a b" NX EX 10\n'),
    out: [['SET', 'k', 'a b', 'NX', 'EX', '10']],
  },
  {
    name: 'a closing quote glued to the next word',
    bytes: bytes('PUT k "a"b\n'),
    out: [reject('BAD_QUOTING')],
  },
  {
    name: 'SETEX and CAS: two words, then the value is the rest of the line',
    bytes: bytes('SETEX k 10  a b \nCAS k 7 x y\nSETEX k 10\n'),
    out: [['SETEX', 'k', '10', ' a b '], ['CAS', 'k', '7', 'x y'], ['SETEX', 'k', '10']],
  },
  {
    name: 'APPEND, SETNX, GETSET (one word) and SETRANGE (two): the value is the rest of the line',
    bytes: bytes('APPEND k  a b \n', 'SETNX k x y\n', 'GETSET k "q"\n', 'SETRANGE k 3 a b\n', 'INCRBY k 5\n'),
    out: [['APPEND', 'k', ' a b '], ['SETNX', 'k', 'x y'], ['GETSET', 'k', 'q'], ['SETRANGE', 'k', '3', 'a b'], ['INCRBY', 'k', '5']],
  },
  {
    name: 'a line of exactly the limit, ended by LF',
    bytes: bytes('PUT k ', 'x'.repeat(18), '\n'), // 24 bytes before the LF
    out: [['PUT', 'k', 'x'.repeat(18)]],
  },
  {
    name: 'a line of exactly the limit, ended by CRLF',
    bytes: bytes('PUT k ', 'x'.repeat(18), '\r\n'), // 24 bytes before the CRLF
    out: [['PUT', 'k', 'x'.repeat(18)]],
  },
  {
    name: 'a line one byte over the limit, refused; the next line is read normally',
    bytes: bytes(
      'PUT k ',
      'x'.repeat(19), // 25 bytes: over by one
      '\n',
      'GET k\n',
    ),
    out: [reject('LINE_TOO_LONG'), ['GET', 'k']],
  },
  {
    name: 'a line one byte over the limit, with CRLF',
    bytes: bytes('PUT k ', 'x'.repeat(19), '\r\n', 'GET k\r\n'),
    out: [reject('LINE_TOO_LONG'), ['GET', 'k']],
  },
  {
    name: 'two long lines in a row, each refused once',
    bytes: bytes('x'.repeat(40), '\n', 'y'.repeat(60), '\n', 'PING\n'),
    out: [reject('LINE_TOO_LONG'), reject('LINE_TOO_LONG'), ['PING']],
  },
  {
    name: 'a long line not ended yet, refused once however it is cut',
    bytes: bytes('z'.repeat(80)),
    out: [reject('LINE_TOO_LONG')],
  },
  {
    name: 'a CR alone, which separates words but does not end a line',
    bytes: bytes('GET a\rb\n'),
    out: [['GET', 'a', 'b']],
  },
];

describe('TextLineDecoder fixtures (each whole, byte by byte and split at every boundary)', () => {
  for (const f of fixtures) {
    it(`decodes ${f.name}`, () => {
      expectEveryChunking(makeText, f.bytes, { out: f.out });
    });
  }

  it('stops for good when the sink says so (QUIT)', () => {
    expectEveryChunking(makeText, bytes('QUIT\n', 'GET k\n', 'x'.repeat(40), '\n'), { out: [['QUIT']] }, { stopAfter: 1 });
  });
});

const byteString = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));

describe('TextLineDecoder on random input', () => {
  const textish = fc
    .array(
      fc.oneof(
        fc.constantFrom('PUT ', 'SET ', 'GET ', 'DEL ', 'k ', '"', "'", '\\', '\\x4', '\n', '\r\n', '\r', ' ', 'x'.repeat(20)),
        byteString(16),
      ),
      { maxLength: 40 },
    )
    .map((p) => bytes(...p));
  const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), textish);
  const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

  function splitAt(data: Buffer, at: readonly number[]): Buffer[] {
    const offsets = [...new Set(at.map((c) => Math.floor(c * data.length)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let prev = 0;
    for (const o of offsets) {
      out.push(data.subarray(prev, o));
      prev = o;
    }
    out.push(data.subarray(prev));
    return out;
  }

  it('never throws, and only ever yields commands or LINE_TOO_LONG / BAD_QUOTING refusals', () => {
    fc.assert(
      fc.property(anyBytes, cuts, (data, at) => {
        const result = decodeChunks(makeText, splitAt(data, at));
        expect(result.thrown).toBeUndefined();
        for (const d of result.out) {
          if (Array.isArray(d)) expect(d.length).toBeGreaterThan(0);
          else expect(['LINE_TOO_LONG', 'BAD_QUOTING']).toContain(d.reject);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes the same whatever the chunking', () => {
    fc.assert(
      fc.property(anyBytes, cuts, (data, at) => {
        expect(decodeChunks(makeText, splitAt(data, at))).toEqual(decodeChunks(makeText, [data]));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('formatTextValue', () => {
  const table: Array<[string, string]> = [
    ['hello world', 'hello world'], // plain printable ASCII: as it is
    [' padded ', ' padded '], // spaces are printable, and PUT keeps them
    ['', '""'], // empty: quoted, or the line would end at the space
    ['"quoted"', '"\\"quoted\\""'], // a leading quote would read back as quoting
    ['a\nb', '"a\\nb"'],
    ['caf\xc3\xa9', '"caf\\xc3\\xa9"'], // UTF-8 bytes are not plain ASCII
    ['\x00\x7f', '"\\x00\\x7f"'],
  ];
  for (const [v, shown] of table) {
    it(`shows ${JSON.stringify(v)} as ${shown}`, () => {
      expect(formatTextValue(v)).toBe(shown);
    });
  }

  it('round-trips through parseTextLine: what GET prints can be pasted into PUT', () => {
    fc.assert(
      fc.property(byteString(64), (v) => {
        expect(parseTextLine(`PUT k ${formatTextValue(v)}`)).toEqual(['PUT', 'k', v]);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips through the line decoder as well, with CRLF', () => {
    const big: MakeDecoder = (sink) => new TextLineDecoder(sink, { ...LIMITS, maxLineBytes: 1024 });
    fc.assert(
      fc.property(fc.array(byteString(32), { maxLength: 5 }), (values) => {
        const data = bytes(...values.map((v) => `PUT k ${formatTextValue(v)}\r\n`));
        expect(decodeChunks(big, [data])).toEqual({ out: values.map((v) => ['PUT', 'k', v]) });
      }),
      { numRuns: 500 },
    );
  });
});

function encodeText(r: Reply): string {
  const w = new ReplyWriter(4);
  encodeTextReply(w, r);
  return w.take().toString('latin1');
}

describe('encodeTextReply', () => {
  const table: Array<{ name: string; reply: Reply; line: string }> = [
    { name: 'OK', reply: OK, line: 'OK\n' },
    { name: 'a status word', reply: PONG, line: 'PONG\n' },
    { name: 'a plain value', reply: { t: 'bulk', v: 'hello world' }, line: 'VALUE hello world\n' },
    { name: 'a binary value, quoted', reply: { t: 'bulk', v: 'a\nb\x00\xff' }, line: 'VALUE "a\\nb\\x00\\xff"\n' },
    { name: 'an empty value', reply: { t: 'bulk', v: '' }, line: 'VALUE ""\n' },
    { name: 'nil as NOT_FOUND', reply: NIL, line: 'NOT_FOUND\n' },
    { name: 'an integer', reply: { t: 'int', n: 3 }, line: 'INT 3\n' },
    { name: 'one key deleted (DEL)', reply: { t: 'deleted', n: 1, of: 1 }, line: 'DELETED\n' },
    { name: 'several keys deleted (DEL a b c)', reply: { t: 'deleted', n: 2, of: 3 }, line: 'DELETED 2\n' },
    { name: 'DEL of a missing key', reply: { t: 'deleted', n: 0, of: 1 }, line: 'NOT_FOUND\n' },
    { name: 'an empty array', reply: EMPTY_ARRAY, line: 'ARRAY 0\n' },
    {
      name: 'an array of quoted values, integers and nils',
      reply: { t: 'array', items: [{ t: 'bulk', v: 'a b' }, { t: 'int', n: 1 }, NIL] },
      line: 'ARRAY 3 "a b" 1 (nil)\n',
    },
    {
      name: 'an error with its stable code',
      reply: { t: 'error', err: new KvError('KEY_TOO_LARGE', 'key of 2000 bytes is over the limit') },
      line: 'ERR KEY_TOO_LARGE key of 2000 bytes is over the limit\n',
    },
    {
      name: 'an error message with line breaks, flattened',
      reply: { t: 'error', err: new KvError('SYNTAX', 'one\r\ntwo') },
      line: 'ERR SYNTAX one two\n',
    },
    { name: 'a status with a line break, flattened', reply: { t: 'status', s: 'a\nb' }, line: 'a b\n' },
  ];
  for (const row of table) {
    it(`encodes ${row.name}`, () => {
      expect(encodeText(row.reply)).toBe(row.line);
    });
  }

  it('encodes any reply as exactly one line', () => {
    const codes = Object.keys(ErrorCodes) as ErrorCode[];
    const { reply } = fc.letrec<{ reply: Reply }>((tie) => ({
      reply: fc.oneof(
        { depthSize: 'small' },
        fc.constant(OK),
        fc.constant(NIL),
        byteString(24).map((s): Reply => ({ t: 'status', s })),
        byteString(24).map((v): Reply => ({ t: 'bulk', v })),
        fc.integer().map((n): Reply => ({ t: 'int', n })),
        fc.tuple(fc.constantFrom(...codes), byteString(24)).map(([code, msg]): Reply => ({ t: 'error', err: new KvError(code, msg) })),
        fc.array(tie('reply'), { maxLength: 4 }).map((items): Reply => ({ t: 'array', items })),
      ),
    }));
    fc.assert(
      fc.property(reply, (r) => {
        const line = encodeText(r);
        expect(line.endsWith('\n')).toBe(true);
        expect(line.indexOf('\n')).toBe(line.length - 1);
      }),
      { numRuns: 2000 },
    );
  });
});
