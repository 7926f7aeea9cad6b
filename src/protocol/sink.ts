import type { KvError } from '../errors.js';
import type { ByteString } from '../store/bytes.js';

/** Where a stream decoder hands what it reads. Returning false stops the decoder for good. */
export interface CommandSink {
  /** One complete command: the name first, then its arguments. */
  command(args: ByteString[]): boolean;
  /** One request refused (e.g. an argument over the size limit); the stream is still in sync. */
  reject(err: KvError): boolean;
}

/** Limits a decoder enforces while reading, before a command exists. */
export interface DecoderLimits {
  /** Largest argument accepted; a larger one is skipped and its request rejected. */
  readonly maxArgBytes: number;
  /** Most arguments in one request. */
  readonly maxArgs: number;
  /** Longest line (text dialect, RESP inline command), in bytes. */
  readonly maxLineBytes: number;
  /**
   * Most bytes an unfinished request may hold, its arguments so far included
   * (Redis: client-query-buffer-limit). Past it the decoder throws a
   * QUERY_BUFFER_LIMIT ProtocolError: the connection must close.
   */
  readonly maxRequestBytes: number;
}

/** What one held argument costs beyond its bytes (a string header and an array slot). */
export const ARG_OVERHEAD_BYTES = 16;
