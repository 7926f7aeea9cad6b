import { KvError } from './errors.js';

/** Limits every front-end enforces; each has a flag and a documented default. */
export interface Limits {
  readonly maxKeySize: number;
  readonly maxValueSize: number;
  readonly maxLineSize: number;
  readonly maxConnections: number;
  readonly maxOutputBuffer: number;
  /** Bytes of one unfinished request (its arguments included) a TCP client may send (Redis: client-query-buffer-limit). */
  readonly maxQueryBuffer: number;
  /** Seconds a TCP client may stay idle before it is closed; 0: never (Redis: timeout). */
  readonly idleTimeoutSec: number;
  /** Most keys KEYS may walk (it holds the event loop for all of them); 0: no limit. */
  readonly keysLimit: number;
}

/** The refusal of a value over --max-value-size: the same words from every command and front-end. */
export function valueTooLargeError(bytes: number, limit: number): KvError {
  return new KvError('VALUE_TOO_LARGE', `value of ${bytes} bytes is over the limit of ${limit} bytes (raise --max-value-size)`);
}
