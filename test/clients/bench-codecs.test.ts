import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import {
  classifyMemcachedReply,
  decodeMemcachedFrame,
  encodeMemcachedCommand,
  encodeMemcachedRequest,
} from '../../clients/lib/bench/memcached-codec.js';
import { respDialect, textDialect } from '../../clients/lib/bench/tcp-dialects.js';
import { TextReplyReader } from '../../clients/lib/bench/text-replies.js';
import { parseRatio, resolveOptions, split } from '../../clients/lib/bench/options.js';
import { Outcome } from '../../clients/lib/bench/tally.js';
import { keyName, OpKind, Workload } from '../../clients/lib/bench/workload.js';

const bytes = (...parts: Array<number[] | string>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('memcached UDP frames', () => {
  it.each([
    [
      'get',
      OpKind.GET,
      bytes(
        [0x12, 0x34], // request ID
        [0x00, 0x00], // sequence number 0
        [0x00, 0x01], // 1 datagram in all
        [0x00, 0x00], // reserved
        'get key:7\r\n',
      ),
    ],
    ['set', OpKind.PUT, bytes([0x12, 0x34, 0, 0, 0, 1, 0, 0], 'set key:7 0 0 3\r\nabc\r\n')],
    ['delete', OpKind.DEL, bytes([0x12, 0x34, 0, 0, 0, 1, 0, 0], 'delete key:7\r\n')],
  ])('encodes %s as one datagram: the 8-byte frame header, then the text command', (_name, op, expected) => {
    expect(encodeMemcachedRequest(0x1234, op, Buffer.from('key:7'), Buffer.from('abc'))).toEqual(expected);
  });

  it('keeps the request ID to 16 bits', () => {
    expect(encodeMemcachedCommand(0x1_0005, 'version\r\n').subarray(0, 2)).toEqual(Buffer.from([0x00, 0x05]));
  });

  it('reads a reply frame header, and refuses one that cannot be a frame', () => {
    const reply = bytes([0xab, 0xcd, 0x00, 0x01, 0x00, 0x02, 0, 0], 'tail of a value\r\nEND\r\n');
    expect(decodeMemcachedFrame(reply)).toEqual({ id: 0xabcd, seq: 1, total: 2, body: Buffer.from('tail of a value\r\nEND\r\n') });
    expect(decodeMemcachedFrame(Buffer.from([1, 2, 3]))).toBeNull(); // shorter than a header
    expect(decodeMemcachedFrame(bytes([0, 1, 0, 0, 0, 0, 0, 0]))).toBeNull(); // 0 datagrams in all
    expect(decodeMemcachedFrame(bytes([0, 1, 0, 2, 0, 2, 0, 0]))).toBeNull(); // sequence past the total
  });

  it.each([
    ['VALUE key:7 0 3\r\nabc\r\nEND\r\n', Outcome.OK, null],
    ['STORED\r\n', Outcome.OK, null],
    ['DELETED\r\n', Outcome.OK, null],
    ['END\r\n', Outcome.MISS, null],
    ['NOT_FOUND\r\n', Outcome.MISS, null],
    ['SERVER_ERROR out of memory storing object\r\n', Outcome.ERROR, 'server:SERVER_ERROR'],
    ['CLIENT_ERROR bad data chunk\r\n', Outcome.ERROR, 'server:CLIENT_ERROR'],
    ['ERROR\r\n', Outcome.ERROR, 'server:ERROR'],
    ['\x00garbage', Outcome.ERROR, 'protocol'],
  ])('classifies the reply %j', (body, outcome, kind) => {
    expect(classifyMemcachedReply(Buffer.from(body, 'latin1'))).toEqual({ outcome, kind });
  });
});

describe('text-dialect replies', () => {
  const stream = 'OK\nVALUE ' + 'v'.repeat(300) + '\nNOT_FOUND\r\nDELETED\nERR KEY_TOO_LARGE key of 2000 bytes is over the limit\n';
  const expected = [
    [Outcome.OK, null],
    [Outcome.OK, null],
    [Outcome.MISS, null],
    [Outcome.OK, null],
    [Outcome.ERROR, 'server:KEY_TOO_LARGE'],
  ];

  function feedAll(chunks: Buffer[]): Array<[Outcome, string | null]> {
    const got: Array<[Outcome, string | null]> = [];
    const r = new TextReplyReader((o, k) => got.push([o, k]));
    for (const c of chunks) r.feed(c);
    return got;
  }

  it('reads replies whole, byte by byte, and split at every boundary', () => {
    const buf = Buffer.from(stream, 'latin1');
    expect(feedAll([buf])).toEqual(expected);
    expect(feedAll([...buf].map((b) => Buffer.from([b])))).toEqual(expected);
    for (let i = 1; i < buf.length; i++) expect(feedAll([buf.subarray(0, i), buf.subarray(i)])).toEqual(expected);
  });

  it('throws its ProtocolError on a line that is no reply', () => {
    const r = new TextReplyReader(() => undefined);
    expect(() => r.feed(Buffer.from('-ERR this is RESP\r\n'))).toThrow(ProtocolError);
  });
});

describe('requests the engine writes', () => {
  const key = Buffer.from('key:01');
  const value = Buffer.from('xyz');
  it.each([
    [OpKind.GET, 'GET key:01\n', '*2\r\n$3\r\nGET\r\n$6\r\nkey:01\r\n'],
    [OpKind.PUT, 'PUT key:01 xyz\n', '*3\r\n$3\r\nSET\r\n$6\r\nkey:01\r\n$3\r\nxyz\r\n'],
    [OpKind.DEL, 'DEL key:01\n', '*2\r\n$3\r\nDEL\r\n$6\r\nkey:01\r\n'],
  ])('op %i: text %j, RESP %j', (op, text, resp) => {
    expect(textDialect.encode(op, key, value).toString('latin1')).toBe(text);
    expect(respDialect.encode(op, key, value).toString('latin1')).toBe(resp);
  });
});

describe('workload and options', () => {
  it('draws the same operations and keys for the same seed and stream, and others for another', () => {
    const draw = (seed: number, stream: number) => {
      const w = new Workload({ get: 8, put: 1, del: 1 }, 1000, 16, seed, stream);
      return Array.from({ length: 50 }, () => [w.nextOp(), w.nextKeyIndex()]);
    };
    expect(draw(7, 0)).toEqual(draw(7, 0));
    expect(draw(7, 1)).not.toEqual(draw(7, 0));
    expect(draw(8, 0)).not.toEqual(draw(7, 0));
  });

  it('follows the ratio, and never picks an op with weight 0', () => {
    const w = new Workload({ get: 3, put: 1, del: 0 }, 10, 1, 1, 0);
    const counts = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[w.nextOp()]! += 1;
    expect(counts[OpKind.DEL]).toBe(0);
    expect((counts[OpKind.GET] as number) / 40_000).toBeCloseTo(0.75, 1);
  });

  it('pads key names so every key has the same length, and values are letters and digits', () => {
    expect(keyName(7, 1000)).toBe('key:007');
    expect(keyName(0, 1)).toBe('key:0');
    expect(new Workload({ get: 1, put: 0, del: 0 }, 1, 64, 3, 0).value.toString('latin1')).toMatch(/^[A-Za-z0-9]{64}$/);
  });

  it('parses ratios, and splits work into shares that add up', () => {
    expect(parseRatio('8:1:1')).toEqual({ get: 8, put: 1, del: 1 });
    expect(parseRatio('0.5:0.5:0')).toEqual({ get: 500, put: 500, del: 0 });
    expect([0, 1, 2].map((i) => split(10, 3, i))).toEqual([4, 3, 3]);
  });

  it('fills in defaults that depend on the transport', () => {
    const tcp = resolveOptions({});
    expect(tcp).toMatchObject({ transport: 'tcp', connections: 50, pipeline: 1, inflight: 0, timeoutMs: 5000, durationS: 10, requests: null });
    const udp = resolveOptions({ transport: 'udp' });
    expect(udp).toMatchObject({ connections: 0, inflight: 64, timeoutMs: 200, retries: 4 });
  });
});
