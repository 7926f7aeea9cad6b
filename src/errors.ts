/**
 * The one registry of dualkv's errors. Every error carries a stable `code`;
 * callers (and tests) match on the code, never on the message text. Each entry
 * owns every wire mapping of its code:
 * - `resp`: the error prefix a RESP2 client sees (`-ERR …`, `-MISCONF …`), as Redis
 *   sends it for the same condition;
 * - `udp`: the datagram status (the names of `Status` in src/protocol/datagram-status.ts);
 * - `http`: the HTTP status;
 * - `closes`: whether the connection closes after the error reply.
 */
interface ErrorSpec {
  readonly resp: string;
  readonly udp: UdpErrorStatus;
  readonly http: number;
  readonly closes: boolean;
}

/** The datagram statuses an error can map to (docs/PROTOCOL.md, udp "Status codes"). */
export type UdpErrorStatus =
  | 'COMMAND_ERROR'
  | 'UNAUTHORIZED'
  | 'UNAVAILABLE'
  | 'SERVER_ERROR'
  | 'MALFORMED'
  | 'TOO_LARGE'
  | 'ID_CONFLICT'
  | 'UNSUPPORTED';

/** A command refused its arguments: the client must change the request. */
const command = (http = 400): ErrorSpec => ({ resp: 'ERR', udp: 'COMMAND_ERROR', http, closes: false });
/** The server cannot serve the request now; a retry later may work. */
const unavailable = (resp: string, http = 503): ErrorSpec => ({ resp, udp: 'UNAVAILABLE', http, closes: false });
/** The reply is sent, then the connection closes. */
const fatal = (http: number): ErrorSpec => ({ resp: 'ERR', udp: 'MALFORMED', http, closes: true });

export const ErrorCodes = {
  // Command level: the connection stays open.
  UNKNOWN_COMMAND: command(404),
  WRONG_ARITY: command(),
  SYNTAX: command(),
  /** An argument that must be an integer is not one, or is out of range (Redis's wording). */
  NOT_INTEGER: command(),
  /** An argument or a stored value that must be a number is not one (INCRBYFLOAT: "value is not a valid float"). */
  NOT_FLOAT: command(),
  /** The result would leave its range: a 64-bit overflow (INCR and kin), or NaN or an infinity (INCRBYFLOAT). */
  OVERFLOW: command(),
  /** A TTL or an expiry time that is not positive or overflows (Redis: "invalid expire time"). */
  INVALID_EXPIRE: command(),
  KEY_TOO_LARGE: { resp: 'ERR', udp: 'COMMAND_ERROR', http: 414, closes: false },
  VALUE_TOO_LARGE: { resp: 'ERR', udp: 'COMMAND_ERROR', http: 413, closes: false },
  LINE_TOO_LONG: { resp: 'ERR', udp: 'COMMAND_ERROR', http: 431, closes: false },
  BAD_QUOTING: command(),
  NOT_SUPPORTED: { resp: 'ERR', udp: 'UNSUPPORTED', http: 501, closes: false },
  /** MULTI/EXEC/DISCARD/WATCH out of turn (EXEC without MULTI, MULTI inside MULTI, …). */
  TRANSACTION_STATE: command(409),
  /** EXEC refused the whole transaction: a command was refused while queued, or the server's state refuses it now. */
  EXEC_ABORT: { resp: 'EXECABORT', udp: 'COMMAND_ERROR', http: 409, closes: false },
  /** RENAME of a key that does not exist (Redis: "no such key"). */
  NO_SUCH_KEY: command(404),
  // HTTP (docs/HTTP.md): what only a request over HTTP can get wrong.
  /** No such key (GET, HEAD, DELETE of a missing key) or no such route. */
  NOT_FOUND: command(404),
  /** An If-Match / If-None-Match condition that does not hold: nothing changed. */
  PRECONDITION_FAILED: command(412),
  /** A request the API cannot read: a bad percent-escape, parameter or header. */
  BAD_REQUEST: command(400),
  /** A method the route does not take. */
  METHOD_NOT_ALLOWED: command(405),
  /** A body in a media type the route does not read (the seed's API takes only application/json). */
  UNSUPPORTED_MEDIA_TYPE: command(415),
  /** A value that is not valid UTF-8 asked for as JSON text (the seed's API): /v1/kv/ serves it as bytes. */
  NOT_UTF8: command(406),
  /** A request that did not arrive whole in time (slow client): the connection closes. */
  REQUEST_TIMEOUT: { resp: 'ERR', udp: 'COMMAND_ERROR', http: 408, closes: true },
  /** Request headers over node's limit (16 KiB). */
  HEADERS_TOO_LARGE: { resp: 'ERR', udp: 'COMMAND_ERROR', http: 431, closes: true },
  /** A SCAN cursor that names no iteration. */
  INVALID_CURSOR: command(),
  /** HELLO with a RESP version the server does not speak (Redis: -NOPROTO). */
  NO_PROTO: { resp: 'NOPROTO', udp: 'UNSUPPORTED', http: 400, closes: false },
  /** A user name and password that do not match (Redis: -WRONGPASS). */
  WRONG_PASS: { resp: 'WRONGPASS', udp: 'UNAUTHORIZED', http: 401, closes: false },
  /** A command other than AUTH, HELLO, PING, QUIT or RESET before authenticating (Redis: -NOAUTH Authentication required.). */
  NO_AUTH: { resp: 'NOAUTH', udp: 'UNAUTHORIZED', http: 401, closes: false },
  /** The user's permission does not cover the command (Redis 7.0: -NOPERM this user has no permissions to run the '…' command). */
  NO_PERM: { resp: 'NOPERM', udp: 'UNAUTHORIZED', http: 403, closes: false },
  /** Protected mode: no credentials are configured and the client is not on loopback (Redis: -DENIED). */
  DENIED: { resp: 'DENIED', udp: 'UNAUTHORIZED', http: 403, closes: true },
  READ_ONLY: unavailable('MISCONF'),
  /** A write refused at the memory limit (--maxmemory); reads and DEL go on. */
  OOM: unavailable('OOM', 507),
  // Connection level: the reply is sent, then the connection closes.
  PROTOCOL: fatal(400),
  TOO_MANY_CONNECTIONS: { resp: 'ERR', udp: 'UNAVAILABLE', http: 503, closes: true },
  OUTPUT_BUFFER_LIMIT: { resp: 'ERR', udp: 'TOO_LARGE', http: 503, closes: true },
  /** An unfinished request over --max-query-buffer. */
  QUERY_BUFFER_LIMIT: fatal(413),
  /** All clients together over --maxmemory-clients: the largest is disconnected. */
  CLIENT_MEMORY_LIMIT: { resp: 'ERR', udp: 'UNAVAILABLE', http: 503, closes: true },
  SHUTTING_DOWN: { resp: 'ERR', udp: 'UNAVAILABLE', http: 503, closes: true },
  // UDP datagrams (docs/PROTOCOL.md, udp section): the datagram is dropped, never applied.
  BAD_DATAGRAM: { resp: 'ERR', udp: 'MALFORMED', http: 400, closes: false },
  DATAGRAM_TOO_LARGE: { resp: 'ERR', udp: 'TOO_LARGE', http: 413, closes: false },
  ID_CONFLICT: { resp: 'ERR', udp: 'ID_CONFLICT', http: 409, closes: false },
  // Start-up and client side.
  CONFIG: { resp: 'ERR', udp: 'SERVER_ERROR', http: 500, closes: false },
  CONNECTION: { resp: 'ERR', udp: 'UNAVAILABLE', http: 502, closes: false },
  TIMEOUT: { resp: 'ERR', udp: 'UNAVAILABLE', http: 504, closes: false },
  /** Client side (kv-tcp): the connection was lost after a write was sent, so whether it was applied is unknown; it is not resent. */
  IN_DOUBT: { resp: 'ERR', udp: 'UNAVAILABLE', http: 502, closes: false },
  // Remote backends (README "Gateways"): the engine behind a gateway.
  /** The engine (etcd, Redis Cluster) cannot be reached or answered with a failure: nothing was applied unless the message says it may have been. */
  BACKEND_UNAVAILABLE: unavailable('CLUSTERDOWN'),
  /** Keys of one command or transaction in different hash slots (Redis Cluster's -CROSSSLOT). */
  CROSS_SLOT: { resp: 'CROSSSLOT', udp: 'COMMAND_ERROR', http: 400, closes: false },
  /** A read-modify-write lost the race for its keys more times than it retries (Redis Cluster's -TRYAGAIN): nothing was applied. */
  TRY_AGAIN: unavailable('TRYAGAIN', 409),
  SERVER: { resp: 'ERR', udp: 'SERVER_ERROR', http: 500, closes: false },
  // Persistence: a file in --data-dir that stops the start, the data-dir lock, a failed SAVE.
  DATA_CORRUPT: { resp: 'ERR', udp: 'SERVER_ERROR', http: 500, closes: false },
  DATA_DIR_LOCKED: { resp: 'ERR', udp: 'SERVER_ERROR', http: 500, closes: false },
  SNAPSHOT_FAILED: { resp: 'ERR', udp: 'SERVER_ERROR', http: 500, closes: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

export class KvError extends Error {
  readonly code: ErrorCode;
  /**
   * The wording for the text dialect when it differs from `message` (which is
   * Redis's, for RESP clients that match on it): the codec picks, never the command.
   */
  readonly textMessage: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; textMessage?: string }) {
    super(message, options);
    this.name = 'KvError';
    this.code = code;
    this.textMessage = options?.textMessage;
  }

  /** The RESP2 error prefix for this error (`ERR`, `MISCONF`, …). */
  get respPrefix(): string {
    return ErrorCodes[this.code].resp;
  }

  /** The datagram status name for this error. */
  get udpStatus(): UdpErrorStatus {
    return ErrorCodes[this.code].udp;
  }

  get httpStatus(): number {
    return ErrorCodes[this.code].http;
  }

  /** Whether the connection closes after this error's reply. */
  get closesConnection(): boolean {
    return ErrorCodes[this.code].closes;
  }
}

/** A failure of the server's own (a bug, a promise that rejected): the client gets this, the log the cause. */
export function internalError(cause?: unknown, what = 'internal error'): KvError {
  return new KvError('SERVER', `${what}; see the server log`, cause === undefined ? undefined : { cause });
}

/** `err` when it is a KvError already (it says what went wrong), else internalError(err, what). */
export function asKvError(err: unknown, what?: string): KvError {
  return err instanceof KvError ? err : internalError(err, what);
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
