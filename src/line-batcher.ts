/** A batch is handed over once its chunk of this many bytes is full... */
export const BATCH_BYTES = 64 * 1024;
/** ...or when this many ms have passed, so that a quiet server's lines still appear promptly. */
export const BATCH_FLUSH_MS = 100;

/** Where LineBatcher hands its chunks: a log destination (log-destination.ts). */
export interface ChunkSink {
  /** Takes a chunk of whole lines, or drops it; never blocks and never throws. */
  push(bytes: Buffer, lines: number): void;
  /** Calls `cb` once everything pushed so far is written or dropped. */
  whenWritten(cb: () => void): void;
}

/**
 * Encodes log lines one after another into a 64 KiB chunk and hands each
 * destination the whole chunk (hot path: one op line per request). Handing
 * over each line on its own (a Buffer per line, queued per destination) cost
 * about 1 µs a line, a large part of what logging every op costs (node
 * --cpu-prof under bench/udp-vs-memcached.ts). Gathering lines into one string
 * first is no better: the long rope is slow to flatten.
 */
export class LineBatcher {
  private chunk = Buffer.allocUnsafe(BATCH_BYTES);
  /** Bytes of `chunk` written so far. */
  used = 0;
  /** Lines in `chunk`, so that a destination that drops it can say how many. */
  lines = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly sinks: readonly ChunkSink[]) {
    this.timer = setInterval(() => this.flush(), BATCH_FLUSH_MS);
    this.timer.unref();
  }

  /** pino's destination interface: one call per line. */
  write(line: string): boolean {
    // A UTF-16 unit is at most 3 bytes of UTF-8.
    if (this.used + line.length * 3 > this.chunk.length) {
      this.flush();
      if (line.length * 3 > this.chunk.length) {
        // A line bigger than a chunk (a long error) goes on its own.
        this.handOver(Buffer.from(line), 1);
        return true;
      }
    }
    this.used += this.chunk.write(line, this.used);
    this.lines++;
    return true;
  }

  /**
   * The chunk, with room for `bytes` more at `used` (a full chunk is handed over
   * first). The caller writes one line there, moves `used` past it and adds one
   * to `lines`: op-log.ts writes op lines byte by byte this way, with no string
   * to flatten.
   */
  reserve(bytes: number): Buffer {
    if (this.used + bytes > this.chunk.length) {
      this.flush();
      if (bytes > this.chunk.length) this.chunk = Buffer.allocUnsafe(bytes);
    }
    return this.chunk;
  }

  /**
   * Hands what is gathered to the destinations, which write it asynchronously
   * or drop it. pino's logger.flush(cb) lands here: `cb` runs once they have.
   */
  flush(cb?: (err?: Error) => void): void {
    if (this.used > 0) {
      const bytes = this.chunk.subarray(0, this.used);
      const lines = this.lines;
      // The destinations keep the chunk until written: lines go on in a new one.
      this.chunk = Buffer.allocUnsafe(BATCH_BYTES);
      this.used = 0;
      this.lines = 0;
      this.handOver(bytes, lines);
    }
    if (cb === undefined) return;
    let left = this.sinks.length;
    if (left === 0) return cb();
    for (const sink of this.sinks) sink.whenWritten(() => --left === 0 && cb());
  }

  private handOver(bytes: Buffer, lines: number): void {
    for (const sink of this.sinks) sink.push(bytes, lines);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
