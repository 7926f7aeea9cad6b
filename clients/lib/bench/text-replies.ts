import { ProtocolError } from '../../../src/errors.js';
import { Outcome } from './tally.js';

const LF = 0x0a;
/** Enough of a reply line to classify it: `ERR ` and the longest error code. */
const HEAD_BYTES = 48;

export type ReplyHandler = (outcome: Outcome, errorKind: string | null) => void;

/**
 * Reads the text dialect's replies (README, "The text dialect"): one line each,
 * whose first word says what happened. Only the start of each line is kept, so
 * a long `VALUE` line costs a scan for its LF and no copy. Pure: bytes in,
 * outcomes out, in order.
 */
export class TextReplyReader {
  private head = '';
  private headBytes = 0;

  constructor(private readonly onReply: ReplyHandler) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const nl = chunk.indexOf(LF, off);
      const end = nl < 0 ? chunk.length : nl;
      if (this.headBytes < HEAD_BYTES) {
        const take = Math.min(end - off, HEAD_BYTES - this.headBytes);
        this.head += chunk.toString('latin1', off, off + take);
        this.headBytes += take;
      }
      if (nl < 0) return;
      off = nl + 1;
      const line = this.head;
      this.head = '';
      this.headBytes = 0;
      this.classify(line);
    }
  }

  private classify(line: string): void {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === 'OK' || line === 'DELETED' || line.startsWith('VALUE ')) return this.onReply(Outcome.OK, null);
    if (line === 'NOT_FOUND') return this.onReply(Outcome.MISS, null);
    if (line.startsWith('ERR ')) {
      const code = /^ERR ([A-Z_]+)/.exec(line)?.[1] ?? 'ERR';
      return this.onReply(Outcome.ERROR, `server:${code}`);
    }
    throw new ProtocolError(`unexpected text-dialect reply ${JSON.stringify(line.slice(0, 40))}; is this a dualkv server?`);
  }
}
