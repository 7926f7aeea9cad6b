import type { KvError } from '../errors.js';
import type { ByteString } from '../store/bytes.js';

/**
 * A command's answer, independent of dialect. Each codec turns it into bytes:
 * RESP2 the way Redis would, the text dialect as one line.
 */
export type Reply =
  | { readonly t: 'ok' }
  | { readonly t: 'status'; readonly s: string }
  | { readonly t: 'bulk'; readonly v: ByteString }
  | { readonly t: 'nil' }
  /** `text` is the word the text dialect shows instead of `INT n` (DELETED, NOT_FOUND). */
  | { readonly t: 'int'; readonly n: number; readonly text?: string }
  | { readonly t: 'array'; readonly items: readonly Reply[] }
  | { readonly t: 'error'; readonly err: KvError };

export const OK: Reply = { t: 'ok' };
export const NIL: Reply = { t: 'nil' };
export const PONG: Reply = { t: 'status', s: 'PONG' };
export const EMPTY_ARRAY: Reply = { t: 'array', items: [] };

export function errorReply(err: KvError): Reply {
  return { t: 'error', err };
}
