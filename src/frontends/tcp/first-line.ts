/**
 * docs/PROTOCOL.md §0: a stream connection's dialect comes from its first line, whose
 * bytes are held here until it shows which dialect it is.
 */

export type DialectName = 'resp' | 'text';

export class FirstLine {
  private chunks: Buffer[] = [];
  /** Bytes held. */
  length = 0;

  /**
   * Holds `chunk` and returns the dialect once the first line shows it, or null while
   * the line has not ended. `*` first: RESP2. Else the first line's end decides: CRLF,
   * as every Redis tool sends an inline command (PING from redis-benchmark, HAProxy's
   * redis-check), is RESP2 too; a bare LF, as `nc` sends, is the text dialect. A line
   * longer than `maxLineBytes` is the text dialect's, which refuses it.
   */
  add(chunk: Buffer, maxLineBytes: number): DialectName | null {
    const first = this.length === 0;
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (first && chunk[0] === 0x2a /* * */) return 'resp';
    const lf = chunk.indexOf(0x0a);
    const lineLength = lf < 0 ? this.length : this.length - chunk.length + lf;
    // Too long a line is the text dialect's however it arrives: split or whole, the choice is the same.
    if (lineLength > maxLineBytes) return 'text';
    if (lf < 0) return null;
    const beforeLf = lf > 0 ? chunk[lf - 1] : this.chunks.length > 1 ? (this.chunks[this.chunks.length - 2] as Buffer).at(-1) : undefined;
    return beforeLf === 0x0d ? 'resp' : 'text';
  }

  /** The bytes held, to decode now that the dialect is chosen; nothing is held after. */
  take(): Buffer {
    const bytes = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    return bytes;
  }
}
