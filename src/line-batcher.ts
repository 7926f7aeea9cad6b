/** A batch is handed over once its chunk of this many bytes is full... */
export const BATCH_BYTES = 64 * 1024;
/** ...or when this many ms have passed, so that a quiet server's lines still appear promptly. */
export const BATCH_FLUSH_MS = 100;

/** Chunks kept for reuse once every destination is done with them (at most 2 MiB). */
const POOLED_CHUNKS = 32;

/** Where LineBatcher hands its chunks: a log destination (log-destination.ts). */
export interface ChunkSink {
  /**
   * Takes a chunk of whole lines, or drops it; never blocks and never throws. `done`,
   * when given, is called once the sink no longer reads `bytes` (written, copied, or
   * dropped): the chunk is then reused.
   */
  push(bytes: Buffer, lines: number, done?: () => void): void;
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
 *
 * A chunk comes back to a small pool once every destination is done with it. A new
 * 64 KiB Buffer per chunk is memory outside V8's heap, and at a busy server's rate
 * (tens of MB/s) V8 answers it with a full mark-compact several times a second,
 * whose cost grows with the keys stored (--trace-gc under redis-benchmark -P 16 GET
 * over 100K keys: 10 mark-compacts in 2.5 s with op lines, none without).
 */
export class LineBatcher {
  private chunk: Buffer = Buffer.allocUnsafe(BATCH_BYTES);
  /** Whole chunks no destination holds any more, ready for reuse. */
  private readonly pool: Buffer[] = [];
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
      const whole = this.chunk;
      // The destinations keep the chunk until written: lines go on in another one.
      this.chunk = this.pool.pop() ?? Buffer.allocUnsafe(BATCH_BYTES);
      this.used = 0;
      this.lines = 0;
      this.handOver(bytes, lines, whole.length === BATCH_BYTES ? whole : null);
    }
    if (cb === undefined) return;
    let left = this.sinks.length;
    if (left === 0) return cb();
    for (const sink of this.sinks) sink.whenWritten(() => --left === 0 && cb());
  }

  /** Hands `bytes` to every destination; `whole`, the pooled chunk they are a view of, comes back once all are done with it. */
  private handOver(bytes: Buffer, lines: number, whole: Buffer | null = null): void {
    if (whole === null) {
      for (const sink of this.sinks) sink.push(bytes, lines);
      return;
    }
    let holders = this.sinks.length;
    const release = () => {
      if (--holders === 0 && this.pool.length < POOLED_CHUNKS) this.pool.push(whole);
    };
    for (const sink of this.sinks) {
      // Once per sink, whatever it does: a chunk reused while a sink still reads it would corrupt its lines.
      let held = true;
      sink.push(bytes, lines, () => {
        if (held) {
          held = false;
          release();
        }
      });
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
