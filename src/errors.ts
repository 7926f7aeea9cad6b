/**
 * The one registry of dualkv's errors. Every error carries a stable `code`;
 * callers (and tests) match on the code, never on the message text.
 *
 * `resp` is the error prefix a RESP2 client sees (`-ERR …`, `-MISCONF …`), chosen
 * to match what Redis sends for the same condition.
 */
export const ErrorCodes = {
  // Command level: the connection stays open.
  UNKNOWN_COMMAND: { resp: 'ERR' },
  WRONG_ARITY: { resp: 'ERR' },
  SYNTAX: { resp: 'ERR' },
  KEY_TOO_LARGE: { resp: 'ERR' },
  VALUE_TOO_LARGE: { resp: 'ERR' },
  LINE_TOO_LONG: { resp: 'ERR' },
  BAD_QUOTING: { resp: 'ERR' },
  NOT_SUPPORTED: { resp: 'ERR' },
  READ_ONLY: { resp: 'MISCONF' },
  /** A write refused at the memory limit (--maxmemory); reads and DEL go on. */
  OOM: { resp: 'OOM' },
  // Connection level: the reply is sent, then the connection closes.
  PROTOCOL: { resp: 'ERR' },
  TOO_MANY_CONNECTIONS: { resp: 'ERR' },
  OUTPUT_BUFFER_LIMIT: { resp: 'ERR' },
  /** An unfinished request over --max-query-buffer. */
  QUERY_BUFFER_LIMIT: { resp: 'ERR' },
  /** All clients together over --maxmemory-clients: the largest is disconnected. */
  CLIENT_MEMORY_LIMIT: { resp: 'ERR' },
  SHUTTING_DOWN: { resp: 'ERR' },
  // UDP datagrams (docs/PROTOCOL.md, udp section): the datagram is dropped, never applied.
  BAD_DATAGRAM: { resp: 'ERR' },
  DATAGRAM_TOO_LARGE: { resp: 'ERR' },
  ID_CONFLICT: { resp: 'ERR' },
  // Start-up and client side.
  CONFIG: { resp: 'ERR' },
  CONNECTION: { resp: 'ERR' },
  TIMEOUT: { resp: 'ERR' },
  SERVER: { resp: 'ERR' },
  // Persistence: a file in --data-dir that stops the start, the data-dir lock, a failed SAVE.
  DATA_CORRUPT: { resp: 'ERR' },
  DATA_DIR_LOCKED: { resp: 'ERR' },
  SNAPSHOT_FAILED: { resp: 'ERR' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class KvError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KvError';
    this.code = code;
  }

  /** The RESP2 error prefix for this error (`ERR`, `MISCONF`, …). */
  get respPrefix(): string {
    return ErrorCodes[this.code].resp;
  }
}

/** Bad bytes on the wire, or a request too large to hold: the codec cannot go on reading this stream. */
export class ProtocolError extends KvError {
  constructor(message: string, options?: { cause?: unknown; code?: 'PROTOCOL' | 'QUERY_BUFFER_LIMIT' }) {
    super(options?.code ?? 'PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}

/** A flag, environment variable or file that stops the server from starting. */
export class ConfigError extends KvError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export function isKvError(err: unknown): err is KvError {
  return err instanceof KvError;
}
