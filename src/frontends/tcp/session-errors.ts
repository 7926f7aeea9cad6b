/** How a StreamSession (stream-session.ts) reports the errors it answers: counted and logged. */
import type { Logger } from 'pino';
import { KvError, type ProtocolError } from '../../errors.js';
import type { SessionStats } from './stream-session-options.js';

/** A protocol error: the session answers it and ends. */
export function reportProtocolError(err: ProtocolError, stats: SessionStats, log: Logger): void {
  stats.protocolErrors++;
  if (err.code === 'QUERY_BUFFER_LIMIT') stats.queryBufferDisconnects++;
  log.warn(
    { err: { code: err.code, message: err.message } },
    err.code === 'QUERY_BUFFER_LIMIT' ? 'client query buffer limit reached; closing the connection' : 'protocol error; closing the connection',
  );
}

/** A refused request whose error leaves the connection open. */
export function reportRejected(err: KvError, stats: SessionStats, log: Logger): void {
  log.warn({ err: { code: err.code, message: err.message } }, 'request rejected');
  stats.countError(err.respPrefix);
}
