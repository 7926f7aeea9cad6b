/**
 * A RESP connection that answers each command with its reply's text: for the
 * benchmarks' control connections (INFO polled while a load runs, a PING probe),
 * where execFileSync('redis-cli') would block the caller's event loop. Replies come
 * back in the order sent; simple, integer and bulk replies only (no arrays).
 */
import net from 'node:net';

/** A reply: the text of a simple or integer reply (without its prefix), a bulk's body, or null for a null bulk. */
export type ReplyText = string | null;

export class RespQuery {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve: (r: ReplyText) => void; reject: (e: Error) => void }> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('the server closed the connection')));
  }

  static open(port: number): Promise<RespQuery> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve(new RespQuery(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply, rejects on an error reply or a lost connection. */
  query(...args: string[]): Promise<ReplyText> {
    let s = `*${args.length}\r\n`;
    for (const a of args) s += `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(s, 'latin1');
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let p = 0;
    for (;;) {
      const eol = this.buf.indexOf('\r\n', p, 'latin1');
      if (eol < 0) break;
      const type = this.buf[p];
      const line = this.buf.toString('latin1', p + 1, eol);
      let reply: ReplyText | Error;
      let end = eol + 2;
      if (type === 0x24) {
        // '$': a bulk string, or -1 for null
        const len = Number(line);
        if (len >= 0) {
          end = eol + 2 + len + 2;
          if (end > this.buf.length) break;
          reply = this.buf.toString('latin1', eol + 2, eol + 2 + len);
        } else reply = null;
      } else if (type === 0x2d) reply = new Error(line); // '-'
      else reply = line; // '+' and ':'
      p = end;
      const w = this.waiting.shift();
      if (reply instanceof Error) w?.reject(reply);
      else w?.resolve(reply);
    }
    this.buf = p === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(p);
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
