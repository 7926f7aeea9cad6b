import { expect } from 'vitest';
import { type ErrorCode, KvError, ProtocolError } from '../../src/errors.js';
import type { CommandSink } from '../../src/protocol/sink.js';

/**
 * Shared harness for the stream decoders' fixture tables (house style, after
 * ioredis's decoder tests): every fixture runs as one chunk, byte by byte, and
 * split in two at every offset, and must decode the same way each time.
 */

/** What a decoder produced: a command (its words) or a refused request (its code). */
export type Decoded = string[] | { reject: ErrorCode };

export interface DecodeResult {
  readonly out: Decoded[];
  /** The code of the ProtocolError the decoder threw, if it threw one. */
  readonly thrown?: ErrorCode;
}

export interface StreamDecoder {
  feed(chunk: Buffer): void;
}

export type MakeDecoder = (sink: CommandSink) => StreamDecoder;

/** Builds fixture bytes from latin1 pieces (one piece per commented line in a table). */
export function bytes(...pieces: Array<string | Uint8Array>): Buffer {
  return Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

export function reject(code: ErrorCode): Decoded {
  return { reject: code };
}

/**
 * Feeds chunks in order. A ProtocolError ends the stream (a front-end closes the
 * connection on one); anything else thrown is a bug and propagates.
 */
export function decodeChunks(make: MakeDecoder, chunks: readonly Buffer[], options: { stopAfter?: number } = {}): DecodeResult {
  const out: Decoded[] = [];
  const keepGoing = () => options.stopAfter === undefined || out.length < options.stopAfter;
  const sink: CommandSink = {
    command(args) {
      out.push([...args]);
      return keepGoing();
    },
    reject(err) {
      expect(err).toBeInstanceOf(KvError);
      out.push({ reject: err.code });
      return keepGoing();
    },
  };
  const decoder = make(sink);
  for (const chunk of chunks) {
    try {
      decoder.feed(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) return { out, thrown: err.code };
      throw err;
    }
  }
  return { out };
}

/** The ways a fixture is cut into chunks: whole, byte by byte, and in two at every offset. */
export function chunkings(data: Buffer): Array<{ how: string; chunks: Buffer[] }> {
  const ways: Array<{ how: string; chunks: Buffer[] }> = [{ how: 'whole', chunks: [data] }];
  const single: Buffer[] = [];
  for (let i = 0; i < data.length; i++) single.push(data.subarray(i, i + 1));
  ways.push({ how: 'byte by byte', chunks: single });
  for (let i = 1; i < data.length; i++) {
    ways.push({ how: `split at ${i}`, chunks: [data.subarray(0, i), data.subarray(i)] });
  }
  return ways;
}

/** Runs a fixture every way and checks each gives the expected result. */
export function expectEveryChunking(make: MakeDecoder, data: Buffer, expected: DecodeResult, options: { stopAfter?: number } = {}): void {
  const want = expected.thrown === undefined ? { out: expected.out } : expected;
  for (const { how, chunks } of chunkings(data)) {
    const got = decodeChunks(make, chunks, options);
    expect(got, `fed ${how}`).toEqual(want);
  }
}
