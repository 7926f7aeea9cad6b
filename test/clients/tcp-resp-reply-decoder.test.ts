import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RespReplyDecoder } from '../../clients/lib/resp-reply-decoder.js';
import { encodeRespCommand } from '../../clients/lib/resp-command-encoder.js';
import { ServerReplyError, type RespValue } from '../../clients/lib/resp-reply.js';
import { ProtocolError } from '../../src/errors.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Each fixture: the bytes a server sends, and the replies the decoder must hand out. */
const FIXTURES: Array<{ name: string; bytes: Buffer; replies: RespValue[] }> = [
  { name: 'simple string', bytes: b('+OK\r\n'), replies: ['OK'] },
  { name: 'empty simple string', bytes: b('+\r\n'), replies: [''] },
  { name: 'UTF-8 simple string', bytes: Buffer.from('+héllo\r\n', 'utf8'), replies: ['héllo'] },
  { name: 'integer', bytes: b(':42\r\n'), replies: [42] },
  { name: 'negative integer', bytes: b(':-7\r\n'), replies: [-7] },
  {
    name: 'integer past 2^53 comes back exact, as bigint',
    bytes: b(':9223372036854775807\r\n'), // INT64_MAX
    replies: [9223372036854775807n],
  },
  {
    name: 'bulk string',
    bytes: b('$5\r\n' + 'hello' + '\r\n'), // length 5, then the bytes, then CRLF
    replies: [b('hello')],
  },
  {
    name: 'binary bulk string with CRLF and NUL inside',
    bytes: b('$6\r\n' + 'a\r\n\x00\xff' + 'z' + '\r\n'),
    replies: [b('a\r\n\x00\xffz')],
  },
  { name: 'empty bulk string', bytes: b('$0\r\n\r\n'), replies: [Buffer.alloc(0)] },
  { name: 'null bulk string', bytes: b('$-1\r\n'), replies: [null] },
  { name: 'null array', bytes: b('*-1\r\n'), replies: [null] },
  { name: 'empty array', bytes: b('*0\r\n'), replies: [[]] },
  {
    name: 'array of mixed types',
    bytes: b('*4\r\n' + ':1\r\n' + '$1\r\nx\r\n' + '$-1\r\n' + '+OK\r\n'), // 4 elements
    replies: [[1, b('x'), null, 'OK']],
  },
  {
    name: 'nested arrays (COMMAND INFO shape)',
    bytes: b('*2\r\n' + '*2\r\n:1\r\n:2\r\n' + '*1\r\n*0\r\n'),
    replies: [[[1, 2], [[]]]],
  },
  {
    name: 'pipelined replies in one read',
    bytes: b('+OK\r\n' + '$1\r\nv\r\n' + ':0\r\n' + '$-1\r\n'),
    replies: ['OK', b('v'), 0, null],
  },
];

/** Feeds the pieces to a fresh decoder; returns what it handed out. */
function decode(pieces: Buffer[]): RespValue[] {
  const out: RespValue[] = [];
  const d = new RespReplyDecoder((r) => out.push(r));
  for (const p of pieces) d.feed(p);
  expect(d.idle).toBe(true);
  return out;
}

function errorLines(replies: RespValue[]): unknown[] {
  return replies.map((r) => (r instanceof ServerReplyError ? { code: r.code, prefix: r.prefix, message: r.message } : r));
}

describe('RespReplyDecoder fixtures', () => {
  for (const f of FIXTURES) {
    it(`${f.name}: whole`, () => {
      expect(decode([f.bytes])).toEqual(f.replies);
    });
    it(`${f.name}: byte by byte`, () => {
      expect(decode([...f.bytes].map((x) => Buffer.from([x])))).toEqual(f.replies);
    });
    it(`${f.name}: split at every boundary`, () => {
      for (let i = 1; i < f.bytes.length; i++) {
        expect(decode([f.bytes.subarray(0, i), f.bytes.subarray(i)])).toEqual(f.replies);
      }
    });
  }

  it('error replies become ServerReplyError values with code SERVER and the Redis prefix', () => {
    const bytes = b('-ERR unknown command\r\n' + '-MISCONF disk is full\r\n' + '*1\r\n-WRONGTYPE nested\r\n');
    const expected = [
      { code: 'SERVER', prefix: 'ERR', message: 'ERR unknown command' },
      { code: 'SERVER', prefix: 'MISCONF', message: 'MISCONF disk is full' },
    ];
    for (const pieces of [[bytes], [...bytes].map((x) => Buffer.from([x]))]) {
      const out = decode(pieces);
      expect(errorLines(out.slice(0, 2))).toEqual(expected);
      expect(errorLines(out[2] as RespValue[])).toEqual([{ code: 'SERVER', prefix: 'WRONGTYPE', message: 'WRONGTYPE nested' }]);
    }
  });

  it('a bulk string split over many chunks comes out as one copy that does not share the chunks', () => {
    const value = Buffer.alloc(100_000, 7);
    const bytes = Buffer.concat([b('$100000\r\n'), value, b('\r\n')]);
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 1500) pieces.push(Buffer.from(bytes.subarray(i, i + 1500)));
    const out = decode(pieces);
    expect(out).toHaveLength(1);
    // Buffer.equals: toEqual walks 100k bytes one by one, slowly.
    expect((out[0] as Buffer).equals(value)).toBe(true);
    pieces[1]?.fill(0);
    expect((out[0] as Buffer).equals(value)).toBe(true);
  });
});

describe('RespReplyDecoder rejects malformed replies with ProtocolError', () => {
  const BAD: Array<[string, Buffer]> = [
    ['unknown type byte', b('hello\r\n')],
    ['bare LF after a line', b('+OK\n')],
    ['bad bulk length', b('$abc\r\n')],
    ['negative bulk length other than -1', b('$-2\r\n')],
    ['bulk without its CRLF', b('$1\r\nxyz')],
    ['bad integer', b(':12a\r\n')],
    ['bad array length', b('*x\r\n')],
    ['bulk over the limit', b(`$${600 * 1024 * 1024}\r\n`)],
  ];
  for (const [name, bytes] of BAD) {
    it(name, () => {
      const d = new RespReplyDecoder(() => undefined);
      expect(() => d.feed(bytes)).toThrow(ProtocolError);
      // After a framing error the stream cannot be trusted: further input is refused too.
      expect(() => d.feed(b('+OK\r\n'))).toThrow(ProtocolError);
    });
  }

  it('a status line over the line limit', () => {
    const d = new RespReplyDecoder(() => undefined, { maxLineBytes: 16 });
    expect(() => d.feed(b('+' + 'x'.repeat(20)))).toThrow(ProtocolError);
  });

  it('random bytes only ever give replies or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const d = new RespReplyDecoder(() => undefined);
        try {
          for (const c of chunks) d.feed(Buffer.from(c));
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes built from RESP pieces only ever give replies or a ProtocolError', () => {
    const piece = fc.constantFrom('+', '-', ':', '$', '*', '\r', '\n', '\r\n', '-1', '0', '1', '2', '3', 'OK', 'x');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        const d = new RespReplyDecoder(() => undefined);
        try {
          for (const p of parts) d.feed(b(p));
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encodeRespCommand', () => {
  it('writes a multibulk request, strings as UTF-8 and Buffers as they are', () => {
    expect(encodeRespCommand(['SET', 'k', Buffer.from([0, 0xff]), 12]).toString('latin1')).toBe(
      '*4\r\n' + '$3\r\nSET\r\n' + '$1\r\nk\r\n' + '$2\r\n\x00\xff\r\n' + '$2\r\n12\r\n',
    );
    expect(encodeRespCommand(['GET', 'é'])).toEqual(Buffer.concat([b('*2\r\n$3\r\nGET\r\n$2\r\n'), Buffer.from('é', 'utf8'), b('\r\n')]));
  });
});
