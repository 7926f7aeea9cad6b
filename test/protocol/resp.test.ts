import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { EMPTY_ARRAY, NIL, OK, PONG, type Reply } from '../../src/protocol/reply.js';
import { ReplyWriter } from '../../src/protocol/reply-writer.js';
import { encodeResp3Reply, encodeRespReply, RespDecoder } from '../../src/protocol/resp.js';
import type { DecoderLimits } from '../../src/protocol/sink.js';
import { bytes, decodeChunks, type Decoded, type DecodeResult, expectEveryChunking, type MakeDecoder, reject } from './feed.js';

// Small limits so that fixtures can cross them in a few bytes.
const LIMITS: DecoderLimits = { maxArgBytes: 16, maxArgs: 8, maxLineBytes: 64, maxRequestBytes: 1024 * 1024 };
const makeResp: MakeDecoder = (sink) => new RespDecoder(sink, LIMITS);

interface Fixture {
  readonly name: string;
  readonly bytes: Buffer;
  readonly out: Decoded[];
  /** Set when the bytes are a framing error (PROTOCOL) or hold too much (QUERY_BUFFER_LIMIT): the decoder throws. */
  readonly thrown?: 'PROTOCOL' | 'QUERY_BUFFER_LIMIT';
}

const SEVENTEEN = '*1\r\n$4\r\nQUIT\r\nxyz'; // 17 bytes that look like a command but are a value

const fixtures: Fixture[] = [
  // --- multibulk requests
  {
    name: 'a multibulk GET',
    bytes: bytes(
      '*2\r\n', // two words
      '$3\r\nGET\r\n', // bulk of 3: the command name
      '$1\r\nk\r\n', // bulk of 1: the key
    ),
    out: [['GET', 'k']],
  },
  {
    name: 'three pipelined multibulk commands',
    bytes: bytes(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n', // SET k v1
      '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', // GET k
      '*1\r\n$4\r\nPING\r\n', // PING
    ),
    out: [['SET', 'k', 'v1'], ['GET', 'k'], ['PING']],
  },
  {
    name: 'a binary bulk holding CR, LF, NUL, 0xff and a star',
    bytes: bytes(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n',
      '$5\r\n', // bulk of 5: the length, not a terminator, says where it ends
      '\r\n\x00\xff*', // the five value bytes
      '\r\n', // the bulk's own CRLF
    ),
    out: [['SET', 'k', '\r\n\x00\xff*']],
  },
  {
    name: 'an empty bulk',
    bytes: bytes(
      '*2\r\n$4\r\nECHO\r\n',
      '$0\r\n', // bulk of 0
      '\r\n', // only its CRLF follows
    ),
    out: [['ECHO', '']],
  },
  {
    name: '*0 and *-1 are empty requests, skipped as Redis skips them',
    bytes: bytes(
      '*0\r\n', // no words
      '*-1\r\n', // null multibulk
      '*1\r\n$4\r\nPING\r\n', // PING
    ),
    out: [['PING']],
  },
  {
    name: 'a bulk of exactly the size limit',
    bytes: bytes(
      '*2\r\n$4\r\nECHO\r\n',
      '$16\r\n0123456789abcdef\r\n', // 16 bytes: at the limit, not over it
    ),
    out: [['ECHO', '0123456789abcdef']],
  },
  // --- limits that keep the stream in sync
  {
    name: 'a bulk over the limit is skipped by its length; the request is refused and the next one read',
    bytes: bytes(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n',
      '$17\r\n', // bulk of 17: one over the limit of 16
      SEVENTEEN, // skipped unread, although it looks like a QUIT
      '\r\n',
      '*1\r\n$4\r\nPING\r\n', // the next request is read normally
    ),
    out: [reject('VALUE_TOO_LARGE'), ['PING']],
  },
  {
    name: 'two oversize bulks in one request refuse it once',
    bytes: bytes(
      '*4\r\n$3\r\nDEL\r\n',
      `$17\r\n${SEVENTEEN}\r\n`, // over the limit
      `$17\r\n${SEVENTEEN}\r\n`, // over the limit again
      '$1\r\nk\r\n', // a fine word after them
      '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n',
    ),
    out: [reject('VALUE_TOO_LARGE'), ['GET', 'k']],
  },
  // --- inline commands (Redis's processInlineBuffer + sdssplitargs)
  {
    name: 'an inline command ended by CRLF',
    bytes: bytes('PING\r\n'),
    out: [['PING']],
  },
  {
    name: 'an inline command ended by LF alone',
    bytes: bytes('GET k\n'),
    out: [['GET', 'k']],
  },
  {
    name: 'inline: runs of spaces and tabs separate words',
    bytes: bytes('SET  k\t v \r\n'),
    out: [['SET', 'k', 'v']],
  },
  {
    name: 'inline: a double-quoted word with \\xHH, \\n, \\" and \\\\ escapes',
    bytes: bytes(
      'SET k ',
      '"a b\\x41\\n\\"\\\\"', // "a b\x41\n\"\\" -> a bA<LF>"\
      '\r\n',
    ),
    out: [['SET', 'k', 'a bA\n"\\']],
  },
  {
    name: "inline: a single-quoted word keeps backslashes except before '",
    bytes: bytes("ECHO 'a\\nb\\'c'\r\n"), // 'a\nb\'c' -> a\nb'c with a real backslash
    out: [['ECHO', "a\\nb'c"]],
  },
  {
    name: 'inline: a quote inside a word opens a quoted part, as in Redis',
    bytes: bytes('SET k a"b c"\r\n'), // a"b c" -> ab c
    out: [['SET', 'k', 'ab c']],
  },
  {
    name: 'inline: empty lines are not commands',
    bytes: bytes('\r\n', '\n', '   \r\n', 'PING\r\n'),
    out: [['PING']],
  },
  {
    name: 'inline, multibulk and inline again on one stream',
    bytes: bytes('PING\r\n', '*1\r\n$4\r\nPING\r\n', 'ECHO x\r\n'),
    out: [['PING'], ['PING'], ['ECHO', 'x']],
  },
  {
    name: 'inline: a line of exactly the line limit',
    bytes: bytes('ECHO ', 'x'.repeat(59), '\r\n'), // 64 bytes before the CRLF
    out: [['ECHO', 'x'.repeat(59)]],
  },
  // --- framing errors: ProtocolError, after the commands before it
  {
    name: 'a count that is not a number',
    bytes: bytes('*x\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a count with a plus sign',
    bytes: bytes('*+1\r\n$4\r\nPING\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a count over the arguments limit',
    bytes: bytes('*9\r\n'), // limit is 8
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a count line ended by LF alone (missing CR)',
    bytes: bytes('*1\n', '$4\r\nPING\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a length line ended by LF alone (missing CR)',
    bytes: bytes('*1\r\n', '$4\n', 'PING\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a count line that never ends is cut off, not buffered',
    bytes: bytes('*', '1'.repeat(40)), // no CRLF at all
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: "a word header that is not '$'",
    bytes: bytes('*1\r\n', ':4\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a negative bulk length',
    bytes: bytes('*1\r\n', '$-1\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a bulk length that is not a number',
    bytes: bytes('*1\r\n', '$4x\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a bulk length over 512 MiB (proto-max-bulk-len)',
    bytes: bytes('*1\r\n', '$536870913\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a bulk not followed by CRLF, after a good command',
    bytes: bytes(
      '*1\r\n$4\r\nPING\r\n', // decoded
      '*1\r\n$4\r\nPING', // then four bytes as promised
      'XY', // where CRLF must be
    ),
    out: [['PING']],
    thrown: 'PROTOCOL',
  },
  {
    name: 'a bulk followed by CR and not LF',
    bytes: bytes('*1\r\n$4\r\nPING\r', '*'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'inline: an unbalanced double quote',
    bytes: bytes('SET k "abc\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'inline: an unbalanced quote inside a word, as in Redis',
    bytes: bytes("SET k it's\r\n"),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'inline: a closing quote followed by a letter',
    bytes: bytes('SET k "a"b\r\n'),
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'inline: more words than the arguments limit',
    bytes: bytes('DEL a b c d e f g h\r\n'), // nine words, limit 8
    out: [],
    thrown: 'PROTOCOL',
  },
  {
    name: 'inline: a line over the line limit with no end in sight',
    bytes: bytes('ECHO ', 'x'.repeat(70)),
    out: [],
    thrown: 'PROTOCOL',
  },
];

describe('RespDecoder fixtures (each whole, byte by byte and split at every boundary)', () => {
  for (const f of fixtures) {
    it(`decodes ${f.name}`, () => {
      const expected: DecodeResult = f.thrown ? { out: f.out, thrown: f.thrown } : { out: f.out };
      expectEveryChunking(makeResp, f.bytes, expected);
    });
  }

  it('stops for good when the sink says so (QUIT), even before bytes that would be an error', () => {
    const data = bytes(
      '*1\r\n$4\r\nQUIT\r\n', // the sink returns false for this one
      '*1\r\n$4\r\nPING\r\n', // never decoded
      '*x\r\n', // never looked at, so no error
    );
    expectEveryChunking(makeResp, data, { out: [['QUIT']] }, { stopAfter: 1 });
  });
});

// Each held argument costs its bytes plus ARG_OVERHEAD_BYTES (16): two 16-byte arguments are 64.
const SMALL_QUERY: DecoderLimits = { ...LIMITS, maxRequestBytes: 64 };
const X16 = 'x'.repeat(16);

const queryFixtures: Fixture[] = [
  {
    name: 'a request holding exactly the query-buffer limit',
    bytes: bytes('*2\r\n', `$16\r\n${X16}\r\n`, `$16\r\n${X16}\r\n`), // 2 x (16 + 16) = 64 bytes held
    out: [[X16, X16]],
  },
  {
    name: 'pipelined requests, each under the limit, that together pass it',
    bytes: bytes(...Array.from({ length: 4 }, () => `*2\r\n$16\r\n${X16}\r\n$16\r\n${X16}\r\n`)),
    out: Array.from({ length: 4 }, () => [X16, X16]),
  },
  {
    name: 'an unfinished request past the limit: the connection must close',
    bytes: bytes(
      '*1\r\n$4\r\nPING\r\n', // a whole request first, answered
      '*8\r\n', // eight words promised...
      `$16\r\n${X16}\r\n`, // 32 held
      `$16\r\n${X16}\r\n`, // 64 held: at the limit
      '$16\r\nx', // the 65th byte: over
    ),
    out: [['PING']],
    thrown: 'QUERY_BUFFER_LIMIT',
  },
  {
    name: 'many empty arguments count too',
    bytes: bytes('*8\r\n', '$0\r\n\r\n'.repeat(5)), // 5 x 16 = 80 held
    out: [],
    thrown: 'QUERY_BUFFER_LIMIT',
  },
];

describe('RespDecoder query-buffer limit (each whole, byte by byte and split at every boundary)', () => {
  for (const f of queryFixtures) {
    it(`decodes ${f.name}`, () => {
      const expected: DecodeResult = f.thrown ? { out: f.out, thrown: f.thrown } : { out: f.out };
      expectEveryChunking((sink) => new RespDecoder(sink, SMALL_QUERY), f.bytes, expected);
    });
  }
});

/** Encodes a list of words as one multibulk request. */
function multibulk(words: readonly string[]): Buffer {
  const parts = [`*${words.length}\r\n`];
  for (const w of words) parts.push(`$${w.length}\r\n`, w, '\r\n');
  return bytes(...parts);
}

/** Splits a buffer at the given fractions (0..1), for random chunking. */
function splitAt(data: Buffer, cuts: readonly number[]): Buffer[] {
  const offsets = [...new Set(cuts.map((c) => Math.floor(c * data.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const o of offsets) {
    out.push(data.subarray(prev, o));
    prev = o;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Bytes that are mostly RESP-shaped, so random input reaches the deep states too. */
export const respish = fc
  .array(
    fc.oneof(
      fc.constantFrom('*', '$', '\r\n', '\r', '\n', '*1\r\n', '*2\r\n', '*0\r\n', '*-1\r\n', '$0\r\n', '$3\r\n', '$17\r\n', '$-1\r\n', 'GET', 'PING', '"', "'", '\\x4', ' ', '9'),
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b).toString('latin1')),
    ),
    { maxLength: 40 },
  )
  .map((pieces) => bytes(...pieces));

describe('RespDecoder on random input', () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    respish,
  );

  it('only ever yields commands, refusals, or its own ProtocolError', () => {
    fc.assert(
      fc.property(anyBytes, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (data, cuts) => {
        // decodeChunks rethrows anything that is not a ProtocolError, failing the property.
        const { out } = decodeChunks(makeResp, splitAt(data, cuts));
        for (const d of out) {
          if (Array.isArray(d)) {
            expect(d.length).toBeGreaterThan(0);
            for (const w of d) expect(typeof w).toBe('string');
          } else {
            expect(d.reject).toBe('VALUE_TOO_LARGE');
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes the same whatever the chunking', () => {
    fc.assert(
      fc.property(anyBytes, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }), (data, cuts) => {
        expect(decodeChunks(makeResp, splitAt(data, cuts))).toEqual(decodeChunks(makeResp, [data]));
      }),
      { numRuns: 1000 },
    );
  });

  it('reads back any list of binary words encoded as multibulk requests', () => {
    const word = fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('latin1'));
    const request = fc.array(word, { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(fc.array(request, { maxLength: 5 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (requests, cuts) => {
        const data = Buffer.concat(requests.map(multibulk));
        expect(decodeChunks(makeResp, splitAt(data, cuts))).toEqual({ out: requests });
      }),
      { numRuns: 500 },
    );
  });
});

function encodeResp(r: Reply): string {
  const w = new ReplyWriter(4); // tiny, so the writer has to grow
  encodeRespReply(w, r);
  return w.take().toString('latin1');
}

describe('encodeRespReply', () => {
  const table: Array<{ name: string; reply: Reply; bytes: string }> = [
    { name: 'OK as a status', reply: OK, bytes: '+OK\r\n' },
    { name: 'PONG as a status', reply: PONG, bytes: '+PONG\r\n' },
    { name: 'a bulk string', reply: { t: 'bulk', v: 'hello' }, bytes: '$5\r\nhello\r\n' },
    { name: 'a binary bulk, bytes as they are', reply: { t: 'bulk', v: '\r\n\x00\xff' }, bytes: '$4\r\n\r\n\x00\xff\r\n' },
    { name: 'an empty bulk', reply: { t: 'bulk', v: '' }, bytes: '$0\r\n\r\n' },
    { name: 'nil as the null bulk', reply: NIL, bytes: '$-1\r\n' },
    { name: 'a count of deleted keys (no text-dialect word leaks)', reply: { t: 'deleted', n: 1, of: 1 }, bytes: ':1\r\n' },
    { name: 'a negative integer', reply: { t: 'int', n: -3 }, bytes: ':-3\r\n' },
    { name: 'an empty array', reply: EMPTY_ARRAY, bytes: '*0\r\n' },
    {
      name: 'a nested array',
      reply: { t: 'array', items: [{ t: 'bulk', v: 'a' }, { t: 'array', items: [{ t: 'int', n: 2 }, NIL] }] },
      bytes: '*2\r\n$1\r\na\r\n*2\r\n:2\r\n$-1\r\n',
    },
    {
      name: 'an error with its Redis prefix',
      reply: { t: 'error', err: new KvError('WRONG_ARITY', "wrong number of arguments for 'get' command") },
      bytes: "-ERR wrong number of arguments for 'get' command\r\n",
    },
    {
      name: 'a MISCONF error',
      reply: { t: 'error', err: new KvError('READ_ONLY', 'writes are refused') },
      bytes: '-MISCONF writes are refused\r\n',
    },
    {
      name: 'an error message with line breaks, flattened to one line',
      reply: { t: 'error', err: new KvError('SYNTAX', 'one\r\ntwo\nthree') },
      bytes: '-ERR one two three\r\n',
    },
    { name: 'a status with line breaks, flattened to one line', reply: { t: 'status', s: 'a\nb' }, bytes: '+a b\r\n' },
  ];
  for (const row of table) {
    it(`encodes ${row.name}`, () => {
      expect(encodeResp(row.reply)).toBe(row.bytes);
    });
  }

  it('batches several replies into one buffer in order', () => {
    const w = new ReplyWriter(4);
    encodeRespReply(w, OK);
    encodeRespReply(w, { t: 'bulk', v: 'x'.repeat(100) });
    encodeRespReply(w, NIL);
    expect(w.take().toString('latin1')).toBe(`+OK\r\n$100\r\n${'x'.repeat(100)}\r\n$-1\r\n`);
    expect(w.length).toBe(0);
  });
});

describe('encodeResp3Reply (docs/PROTOCOL.md §2.2, HELLO): what RESP3 changes, each row with its RESP2 bytes', () => {
  const encode3 = (r: Reply): string => {
    const w = new ReplyWriter(4);
    encodeResp3Reply(w, r);
    return w.take().toString('latin1');
  };
  const bulk = (v: string): Reply => ({ t: 'bulk', v });
  const table: Array<{ name: string; reply: Reply; resp2: string; resp3: string }> = [
    { name: 'the null bulk', reply: NIL, resp2: '$-1\r\n', resp3: '_\r\n' },
    { name: 'the null array (EXEC after a watched key changed)', reply: { t: 'exec', items: null }, resp2: '*-1\r\n', resp3: '_\r\n' },
    {
      name: 'a map',
      reply: { t: 'map', entries: [[bulk('proto'), { t: 'int', n: 3 }]] },
      resp2: '*2\r\n$5\r\nproto\r\n:3\r\n',
      resp3: '%1\r\n' + '$5\r\nproto\r\n' + ':3\r\n', // one pair: name, value
    },
    {
      name: 'a set',
      reply: { t: 'array', items: [{ t: 'status', s: 'readonly' }, { t: 'status', s: 'fast' }], set: true },
      resp2: '*2\r\n+readonly\r\n+fast\r\n',
      resp3: '~2\r\n+readonly\r\n+fast\r\n',
    },
    {
      name: 'verbatim text, whose length counts `txt:`',
      reply: { t: 'bulk', v: '# Keyspace\r\n', verbatim: true },
      resp2: '$12\r\n# Keyspace\r\n\r\n',
      resp3: '=16\r\n' + 'txt:' + '# Keyspace\r\n' + '\r\n', // 4 bytes of format, 12 of text
    },
    { name: 'empty verbatim text', reply: { t: 'bulk', v: '', verbatim: true }, resp2: '$0\r\n\r\n', resp3: '=4\r\ntxt:\r\n' },
    {
      name: 'STATS, as verbatim text',
      reply: { t: 'stats', sections: {} },
      resp2: '$0\r\n\r\n',
      resp3: '=4\r\ntxt:\r\n',
    },
    {
      name: 'a set and a null inside a map inside an array',
      reply: { t: 'array', items: [{ t: 'map', entries: [[bulk('f'), { t: 'array', items: [NIL], set: true }]] }] },
      resp2: '*1\r\n*2\r\n$1\r\nf\r\n*1\r\n$-1\r\n',
      resp3: '*1\r\n%1\r\n$1\r\nf\r\n~1\r\n_\r\n',
    },
    { name: 'a plain bulk, unchanged', reply: bulk('2.5'), resp2: '$3\r\n2.5\r\n', resp3: '$3\r\n2.5\r\n' },
  ];
  for (const row of table) {
    it(`encodes ${row.name}`, () => {
      expect(encodeResp(row.reply)).toBe(row.resp2);
      expect(encode3(row.reply)).toBe(row.resp3);
    });
  }
});
