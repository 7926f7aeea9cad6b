import { OpKind } from './workload.js';
import { Outcome } from './tally.js';

/*
 * memcached's UDP protocol (memcached's doc/protocol.txt, "UDP protocol"): every
 * datagram starts with an 8-byte frame header, then the text protocol.
 *
 *   0  request ID (2)   2  sequence number (2)   4  total datagrams (2)   6  reserved, 0 (2)
 *
 * All big-endian. A request is one datagram; a reply may span several, each
 * with the request's ID and its own sequence number. There is no checksum and
 * no de-duplication: that is what dualkv's protocol adds.
 */

export const MEMCACHED_HEADER_SIZE = 8;
/** memcached's UDP_MAX_PAYLOAD_SIZE: replies are cut into datagrams of at most this many bytes. */
export const MEMCACHED_MAX_DATAGRAM = 1400;

const CRLF = Buffer.from('\r\n');

/** One request datagram: `get k`, `set k 0 0 n` + data, or `delete k`. */
export function encodeMemcachedRequest(id: number, op: OpKind, key: Buffer, value: Buffer): Buffer {
  const line = op === OpKind.GET ? `get ${key.toString('latin1')}\r\n` : op === OpKind.PUT ? `set ${key.toString('latin1')} 0 0 ${value.length}\r\n` : `delete ${key.toString('latin1')}\r\n`;
  const size = MEMCACHED_HEADER_SIZE + line.length + (op === OpKind.PUT ? value.length + 2 : 0);
  const out = Buffer.allocUnsafe(size);
  writeHeader(out, id);
  let off = MEMCACHED_HEADER_SIZE + out.write(line, MEMCACHED_HEADER_SIZE, 'latin1');
  if (op === OpKind.PUT) {
    out.set(value, off);
    off += value.length;
    out.set(CRLF, off);
  }
  return out;
}

/** A request datagram carrying any text command (e.g. `version\r\n`, the probe). */
export function encodeMemcachedCommand(id: number, text: string): Buffer {
  const out = Buffer.allocUnsafe(MEMCACHED_HEADER_SIZE + Buffer.byteLength(text, 'latin1'));
  writeHeader(out, id);
  out.write(text, MEMCACHED_HEADER_SIZE, 'latin1');
  return out;
}

function writeHeader(out: Buffer, id: number): void {
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(0, 2); // sequence number
  out.writeUInt16BE(1, 4); // total datagrams
  out.writeUInt16BE(0, 6); // reserved
}

export interface MemcachedFrame {
  readonly id: number;
  readonly seq: number;
  readonly total: number;
  readonly body: Buffer;
}

/** The frame header of a reply datagram, or null when it is too short to have one. */
export function decodeMemcachedFrame(buf: Buffer): MemcachedFrame | null {
  if (buf.length < MEMCACHED_HEADER_SIZE) return null;
  const total = buf.readUInt16BE(4);
  const seq = buf.readUInt16BE(2);
  if (total === 0 || seq >= total) return null;
  return { id: buf.readUInt16BE(0), seq, total, body: buf.subarray(MEMCACHED_HEADER_SIZE) };
}

/**
 * What a whole reply body means. `VALUE …END` (a hit), `STORED` and `DELETED`
 * are successes; `END` alone and `NOT_FOUND` are misses; `ERROR`,
 * `CLIENT_ERROR …` and `SERVER_ERROR …` are errors, counted by that first word.
 */
export function classifyMemcachedReply(body: Buffer): { outcome: Outcome; kind: string | null } {
  const head = body.toString('latin1', 0, Math.min(body.length, 16));
  if (head.startsWith('VALUE ') || head.startsWith('STORED\r\n') || head.startsWith('DELETED\r\n') || head.startsWith('VERSION ')) return { outcome: Outcome.OK, kind: null };
  if (head.startsWith('END\r\n') || head.startsWith('NOT_FOUND\r\n')) return { outcome: Outcome.MISS, kind: null };
  const word = /^([A-Z_]+)/.exec(head)?.[1];
  return { outcome: Outcome.ERROR, kind: word === 'ERROR' || word === 'CLIENT_ERROR' || word === 'SERVER_ERROR' ? `server:${word}` : 'protocol' };
}
