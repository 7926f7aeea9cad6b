import { quoteBytes, toJsonValue } from './cli-output.js';
import { ServerReplyError, type RespValue } from './resp-reply.js';

/**
 * A reply as redis-cli shows it in a terminal: `OK`, `"value"`, `(integer) 3`,
 * `(nil)`, `(error) ERR ...`, and numbered lines for arrays. People who know
 * redis-cli read it without a manual.
 */
export function formatRespReply(v: RespValue, indent = 0): string {
  if (v === null) return '(nil)';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return `(integer) ${v}`;
  if (Buffer.isBuffer(v)) return quoteBytes(v);
  if (v instanceof ServerReplyError) return `(error) ${v.message}`;
  if (v.length === 0) return '(empty array)';
  const width = String(v.length).length;
  const pad = ' '.repeat(indent);
  return v
    .map((item, i) => {
      const label = `${String(i + 1).padStart(width)}) `;
      return (i === 0 ? '' : pad) + label + formatRespReply(item, indent + label.length);
    })
    .join('\n');
}

/**
 * A reply as JSON: bulk strings as `{ value, encoding }` (see toJsonValue),
 * status strings as `{ status }`, integers as numbers (strings when past 2^53),
 * nil as null, errors as `{ error: { code, message } }`, arrays as arrays.
 */
export function respToJson(v: RespValue): unknown {
  if (v === null || typeof v === 'number') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return { status: v };
  if (Buffer.isBuffer(v)) return toJsonValue(v);
  if (v instanceof ServerReplyError) return { error: { code: v.code, message: v.message } };
  return v.map(respToJson);
}
