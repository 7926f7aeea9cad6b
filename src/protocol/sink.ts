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
  /**
   * Set while the connection has not authenticated: a request over these limits (Redis:
   * 10 arguments, 16 KiB an argument) is a ProtocolError that closes the connection,
   * rather than one refused and skipped, so that an unknown client cannot make the server
   * read or hold much (docs/PROTOCOL.md "Authentication").
   */
  readonly unauthenticated?: boolean;
}

/** Redis's limits before authentication (networking.c): arguments in one request, and bytes in one argument or line. */
export const PREAUTH_MAX_ARGS = 10;
export const PREAUTH_MAX_ARG_BYTES = 16 * 1024;

/** The limits of a connection that has not authenticated: the usual ones, cut to Redis's pre-auth sizes. */
export function preAuthLimits(limits: DecoderLimits): DecoderLimits {
  return {
    maxArgs: Math.min(limits.maxArgs, PREAUTH_MAX_ARGS),
    maxArgBytes: Math.min(limits.maxArgBytes, PREAUTH_MAX_ARG_BYTES),
    maxLineBytes: Math.min(limits.maxLineBytes, PREAUTH_MAX_ARG_BYTES),
    maxRequestBytes: Math.min(limits.maxRequestBytes, PREAUTH_MAX_ARGS * (PREAUTH_MAX_ARG_BYTES + 64)),
    unauthenticated: true,
  };
}

/** What one held argument costs beyond its bytes (a string header and an array slot). */
export const ARG_OVERHEAD_BYTES = 16;
