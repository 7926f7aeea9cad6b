import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type ErrorCode } from '../../src/errors.js';
import { decodeReply, encodeErrorReply, isErrorStatus, MIN_DATAGRAM_SIZE, Status } from '../../src/protocol/datagram.js';
import { errorBody } from '../../src/protocol/datagram-reply.js';

// docs/PROTOCOL.md, udp "Status codes" and "Amplification": an error reply is never
// larger than its request; its text is cut to fit, down to the status alone.
const ERROR_STATUSES = Object.values(Status).filter(isErrorStatus);
const CODES = Object.keys(ErrorCodes) as ErrorCode[];

/** Any text: ASCII, accented, CJK, emoji (4 bytes in UTF-8), so that cuts land inside characters. */
const text = fc.string({ unit: 'grapheme', maxLength: 400 });

function isValidUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

describe('encodeErrorReply', () => {
  it('never makes a reply larger than maxSize, and cuts the text only at a character boundary, as little as it can', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(255), fc.constantFrom(...ERROR_STATUSES), text, fc.integer({ min: 0, max: 1500 }), (id, opcode, status, t, maxSize) => {
        const buf = encodeErrorReply({ id, opcode }, status, t, maxSize);
        if (maxSize < MIN_DATAGRAM_SIZE) return buf === null;
        if (buf === null || buf.length > maxSize) return false;
        const r = decodeReply(buf);
        const full = Buffer.from(t, 'utf8');
        const room = maxSize - MIN_DATAGRAM_SIZE;
        return (
          r.id === id &&
          r.opcode === opcode &&
          r.status === status &&
          full.subarray(0, r.value.length).equals(r.value) &&
          isValidUtf8(r.value) &&
          // Whole when it fits; otherwise short of the room by less than one character (at most 3 bytes).
          (full.length <= room ? r.value.length === full.length : r.value.length > room - 4)
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every command error within a request of any size: the code first, then as much of the message as fits', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CODES), text, fc.integer({ min: MIN_DATAGRAM_SIZE, max: 1400 }), (code, message, requestSize) => {
        const body = errorBody(code, message);
        const buf = encodeErrorReply({ id: 1, opcode: 2 }, body.status, body.value, requestSize);
        if (buf === null || buf.length > requestSize) return false;
        const r = decodeReply(buf);
        const value = r.value.toString('utf8');
        return isErrorStatus(r.status) && `${code} ${message}`.startsWith(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('carries the status alone when a request leaves no room for text', () => {
    const buf = encodeErrorReply({ id: 9, opcode: 5 }, Status.TOO_LARGE, 'DATAGRAM_TOO_LARGE use TCP', MIN_DATAGRAM_SIZE);
    expect(buf?.length).toBe(MIN_DATAGRAM_SIZE);
    expect(decodeReply(buf as Buffer)).toMatchObject({ id: 9, opcode: 5, status: Status.TOO_LARGE });
    expect(decodeReply(buf as Buffer).value.length).toBe(0);
  });

  it('maps OOM (writes refused at --maxmemory) to UNAVAILABLE: try again later', () => {
    expect(errorBody('OOM', 'command not allowed when used memory > maxmemory').status).toBe(Status.UNAVAILABLE);
    expect(errorBody('READ_ONLY', 'x').status).toBe(Status.UNAVAILABLE);
    expect(errorBody('KEY_TOO_LARGE', 'x').status).toBe(Status.COMMAND_ERROR);
  });
});
