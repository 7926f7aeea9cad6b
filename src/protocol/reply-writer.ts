import { writeLatin1 } from '../store/bytes.js';

/**
 * A growable byte buffer that replies are encoded into. A whole batch of
 * pipelined replies goes out in one socket write.
 *
 * Hand-written rather than collecting Buffers for Buffer.concat: this is the hot
 * path of every reply, and writing latin1 strings straight into one buffer avoids
 * an allocation per reply.
 */
export class ReplyWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  /** Bytes the buffer holds room for. */
  get capacity(): number {
    return this.buf.length;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Appends an ASCII string (protocol text). */
  ascii(s: string): void {
    this.bytes(s);
  }

  /** Appends a byte string (keys and values are held as latin1 strings). */
  bytes(s: string): void {
    this.ensure(s.length);
    this.len = writeLatin1(this.buf, this.len, s);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Hands out the bytes written so far (a copy) and starts again empty. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(16 * 1024);
    return out;
  }
}
