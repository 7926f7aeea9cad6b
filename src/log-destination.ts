import type { ChunkSink } from './line-batcher.js';

/** A destination whose write failed tries again after this long, so a full disk costs a syscall a second, not a loop. */
export const LOG_RETRY_MS = 1000;

/**
 * Queued chunks are joined into one write of up to this many bytes. A write
 * completes only when the event loop comes round, which under load is every
 * 10-50 ms, so the bytes per write, not the copy, set how fast a busy server's
 * log can go (64 KiB writes managed 30 MB/s).
 */
const MAX_WRITE_BYTES = 4 * 1024 * 1024;

/** How bytes reach one place: the rotated file (log-file.ts), stdout (log-stdout.ts), a test's fake. */
export interface ByteWriter {
  /** Writes a prefix of `bytes` (at least a byte) and resolves with its length; rejects with the errno error. */
  write(bytes: Buffer): Promise<number>;
  /**
   * Runs before a retry after a failed write, to mend what can be mended (a
   * deleted file is opened again). Resolves false when the writer can never
   * write again (a pipe whose reader is gone).
   */
  recover(): Promise<boolean>;
  /** Lets go of the fd or socket; a write still running may finish first. */
  close(): void;
}

/** What a destination tells its owner, which turns it into warnings (logger.ts). Called outside any write. */
export interface DestinationEvents {
  dropped(dest: LogDestination, lines: number): void;
  failed(dest: LogDestination, err: Error): void;
  recovered(dest: LogDestination): void;
}

/**
 * One log destination with a bounded backlog: chunks wait here while the
 * writer is busy, and a chunk that would take the backlog past `maxBacklog`
 * bytes is dropped whole and counted, so a slow disk or a stdout nobody reads
 * costs lines, never memory, and never holds up serving. One write runs at a
 * time; after a failed one, writing stops for LOG_RETRY_MS (chunks keep
 * queueing within the bound) and then resumes where it stopped.
 */
export class LogDestination implements ChunkSink {
  linesWritten = 0;
  linesDropped = 0;
  writeErrors = 0;
  private readonly chunks: Buffer[] = [];
  private readonly chunkLines: number[] = [];
  /** Each queued chunk's `done` (LineBatcher takes the chunk back), or null. */
  private readonly chunkDone: Array<(() => void) | null> = [];
  /**
   * Where queued chunks are joined for one write: made once and reused, since a new
   * Buffer of megabytes per write is memory outside V8's heap that it answers with
   * full collections (line-batcher.ts). Only the write under way reads it.
   */
  private joined: Buffer | null = null;
  /** A write is under way: the writer still reads the head chunk. */
  private inWrite = false;
  /** The head chunk's `done`, held back when it was dropped while the writer still read it. */
  private afterWrite: (() => void) | null = null;
  /** Bytes of chunks[0] already written. */
  private offset = 0;
  /** Bytes ever accepted, and bytes since written or dropped: a flush waits for the second to reach the first. */
  private acceptedBytes = 0;
  private doneBytes = 0;
  private waiters: Array<{ until: number; cb: () => void }> = [];
  private busy = false;
  private retry: NodeJS.Timeout | null = null;
  private failing = false;
  /** The writer said it can never write again: every chunk from here on is dropped. */
  private dead = false;
  private closing = false;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly writer: ByteWriter,
    private readonly maxBacklog: number,
    private readonly events: DestinationEvents,
    /** Applied to each chunk it accepts (stdout on a terminal pretty-prints): a dropped chunk costs nothing. */
    private readonly format?: (chunk: Buffer) => Buffer,
  ) {}

  /** Bytes accepted and not yet written, the write under way included. */
  get backlogBytes(): number {
    return this.acceptedBytes - this.doneBytes;
  }

  get isFailing(): boolean {
    return this.failing || this.dead;
  }

  push(bytes: Buffer, lines: number, done?: () => void): void {
    // An empty backlog takes any chunk, so that a line longer than the bound is still written.
    if (this.dead || this.closed || (this.chunks.length > 0 && this.backlogBytes + bytes.length > this.maxBacklog)) {
      done?.();
      this.linesDropped += lines;
      this.events.dropped(this, lines);
      return;
    }
    let out = bytes;
    let release = done ?? null;
    if (this.format) {
      // The pretty text is a Buffer of its own: the chunk is not read again.
      out = this.format(bytes);
      release?.();
      release = null;
    }
    this.chunks.push(out);
    this.chunkLines.push(lines);
    this.chunkDone.push(release);
    this.acceptedBytes += out.length;
    if (!this.busy && this.retry === null) void this.pump();
  }

  whenWritten(cb: () => void): void {
    if (this.doneBytes >= this.acceptedBytes) cb();
    else this.waiters.push({ until: this.acceptedBytes, cb });
  }

  /**
   * Writes what it can within `timeoutMs`, then drops the rest (counted) and
   * lets go of the writer. A destination waiting to retry tries once more at
   * once; a failure now is final.
   */
  close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.retry !== null) {
      clearTimeout(this.retry);
      this.retry = null;
      void this.pump();
    }
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        if (this.closed) return resolve();
        this.closed = true;
        this.dropQueued();
        this.writer.close();
        resolve();
      };
      // Not unref'd: the process must wait for the bound, not exit with the promise pending.
      const timer = setTimeout(finish, timeoutMs);
      this.whenWritten(finish);
    });
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      if (this.failing && !(await this.writer.recover())) {
        this.dead = true;
        this.dropQueued();
        return;
      }
      while (this.chunks.length > 0 && !this.closed) {
        if (this.offset === 0 && this.chunks.length > 1) this.join();
        const head = this.chunks[0] as Buffer;
        let n: number;
        this.inWrite = true;
        try {
          n = await this.writer.write(this.offset === 0 ? head : head.subarray(this.offset));
        } finally {
          this.inWrite = false;
          const d = this.afterWrite;
          this.afterWrite = null;
          d?.();
        }
        if (this.closed) return;
        this.offset += n;
        if (this.failing) {
          this.failing = false;
          this.events.recovered(this);
        }
        if (this.offset >= head.length) {
          this.chunks.shift();
          this.linesWritten += this.chunkLines.shift() ?? 0;
          this.chunkDone.shift()?.();
          this.offset = 0;
        }
        this.settle(n);
      }
    } catch (err) {
      if (this.closed) return;
      this.writeErrors++;
      if (!this.failing) {
        this.failing = true;
        this.events.failed(this, err instanceof Error ? err : new Error(String(err)));
      }
      if (this.closing) {
        this.dropQueued();
      } else {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.pump();
        }, LOG_RETRY_MS);
        this.retry.unref();
      }
    } finally {
      this.busy = false;
    }
  }

  /** Joins the chunks at the head of the queue into one, up to MAX_WRITE_BYTES, in `joined`. */
  private join(): void {
    let n = 1;
    let bytes = (this.chunks[0] as Buffer).length;
    while (n < this.chunks.length && bytes + (this.chunks[n] as Buffer).length <= MAX_WRITE_BYTES) bytes += (this.chunks[n++] as Buffer).length;
    if (n === 1) return;
    this.joined ??= Buffer.allocUnsafe(MAX_WRITE_BYTES);
    const into = this.joined;
    let lines = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const c = this.chunks[i] as Buffer;
      // The head may be an earlier join not yet written (a write failed): it is already in place.
      if (!(i === 0 && c.buffer === into.buffer && c.byteOffset === into.byteOffset)) into.set(c, at);
      at += c.length;
      lines += this.chunkLines[i] as number;
      this.chunkDone[i]?.();
    }
    this.chunks.splice(0, n, into.subarray(0, bytes));
    this.chunkLines.splice(0, n, lines);
    this.chunkDone.splice(0, n, null);
  }

  /** Drops every queued chunk, a partly written one included, counting its lines. */
  private dropQueued(): void {
    if (this.chunks.length === 0) return;
    let lines = 0;
    for (const l of this.chunkLines) lines += l;
    this.chunkDone.forEach((done, i) => {
      if (done === null) return;
      if (i === 0 && this.inWrite) this.afterWrite = done;
      else done();
    });
    this.chunks.length = 0;
    this.chunkLines.length = 0;
    this.chunkDone.length = 0;
    this.offset = 0;
    this.linesDropped += lines;
    if (!this.closed) this.events.dropped(this, lines);
    this.settle(this.backlogBytes);
  }

  private settle(bytes: number): void {
    this.doneBytes += bytes;
    if (this.waiters.length === 0) return;
    const done = this.doneBytes;
    const due = this.waiters.filter((w) => w.until <= done);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.until > done);
    for (const w of due) w.cb();
  }
}
