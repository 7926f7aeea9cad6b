import { encodeRespCommand } from '../resp-command-encoder.js';
import { ServerReplyError, type RespValue } from '../resp-reply.js';
import { RespReplyDecoder } from '../resp-reply-decoder.js';
import { Outcome } from './tally.js';
import { OpKind } from './workload.js';
import { TextReplyReader, type ReplyHandler } from './text-replies.js';

/** How requests are written and replies read on one kind of TCP connection. */
export interface TcpDialect {
  readonly name: string;
  encode(op: OpKind, key: Buffer, value: Buffer): Buffer;
  /** A reader that calls `onReply` once per reply, in order; it throws ProtocolError on bytes it cannot read. */
  reader(onReply: ReplyHandler): { feed(chunk: Buffer): void };
  /** AUTH [user] password in this dialect; its reply is one line, `OK` (text) or `+OK` (RESP) when it worked. */
  auth(user: string | undefined, password: string): Buffer;
}

const TEXT_VERBS = [Buffer.from('GET '), Buffer.from('PUT '), Buffer.from('DEL ')] as const;

/**
 * README "The text dialect": `GET k`, `PUT k v`, `DEL k`, one per line. The
 * engine's keys and values are letters, digits and `:`, so they go raw.
 */
export const textDialect: TcpDialect = {
  name: 'tcp',
  encode(op, key, value) {
    const verb = TEXT_VERBS[op] as Buffer;
    const size = 4 + key.length + (op === OpKind.PUT ? 1 + value.length : 0) + 1;
    const out = Buffer.allocUnsafe(size);
    out.set(verb, 0);
    out.set(key, 4);
    let off = 4 + key.length;
    if (op === OpKind.PUT) {
      out[off++] = 0x20;
      out.set(value, off);
      off += value.length;
    }
    out[off] = 0x0a;
    return out;
  },
  reader: (onReply) => new TextReplyReader(onReply),
  // The text dialect's words end at spaces: a password with spaces goes quoted (docs/PROTOCOL.md §1.1).
  auth: (user, password) => Buffer.from(`AUTH ${user === undefined ? '' : `${user} `}"${password.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"\n`),
};

/** RESP2 as Redis clients send it: GET, SET and DEL as multibulk requests. */
export const respDialect: TcpDialect = {
  name: 'resp',
  encode(op, key, value) {
    return op === OpKind.GET ? encodeRespCommand(['GET', key]) : op === OpKind.PUT ? encodeRespCommand(['SET', key, value]) : encodeRespCommand(['DEL', key]);
  },
  reader(onReply) {
    return new RespReplyDecoder((r) => classifyResp(r, onReply));
  },
  auth: (user, password) => encodeRespCommand(user === undefined ? ['AUTH', password] : ['AUTH', user, password]),
};

/** GET's nil and DEL's 0 are misses; an error reply is counted by its prefix (`ERR`, `MISCONF`, ...). */
function classifyResp(r: RespValue, onReply: ReplyHandler): void {
  if (r === null || r === 0) onReply(Outcome.MISS, null);
  else if (r instanceof ServerReplyError) onReply(Outcome.ERROR, `server:${r.prefix}`);
  else onReply(Outcome.OK, null);
}
