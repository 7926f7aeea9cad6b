/**
 * The cap on what all stream clients (TCP and HTTP) hold together (Redis 7's
 * maxmemory-clients): query bytes (unfinished requests, requests waiting to run, an
 * HTTP body being read) and reply bytes owed. Past it the client holding the most is
 * disconnected, then the next, until the total fits again.
 *
 * Each connection reports after its buffers change; the total is kept from those
 * reports, so it costs O(1) per report. A socket's buffer also shrinks between
 * reports, as the kernel takes bytes, so the total can only be too high: before
 * anyone is disconnected every connection is measured again.
 */
export interface MeasuredClient {
  readonly id: number;
  /** `address:port` of the peer, for the log line. */
  readonly client: string;
  /** Bytes of unfinished and waiting requests (CLIENT LIST's qbuf). */
  readonly queryBytes: number;
  /** Reply bytes owed and not yet taken by the kernel (omem). */
  readonly outputBytes: number;
  readonly memory: number;
  reportedMemory: number;
  /** CLIENT NO-EVICT ON: never picked, as in Redis; its bytes still count. */
  readonly noEvict?: boolean;
  kill(): void;
}

export class ClientMemoryCap {
  private readonly members = new Set<MeasuredClient>();
  private totalBytes = 0;
  private evicting = false;

  constructor(
    private readonly limit: number,
    private readonly onEvict: (client: MeasuredClient, bytes: number, total: number) => void,
  ) {}

  get total(): number {
    return this.totalBytes;
  }

  /** A client connected. */
  add(c: MeasuredClient): void {
    this.members.add(c);
    this.update(c);
  }

  /** The client's buffers changed size. */
  update(c: MeasuredClient): void {
    if (!this.members.has(c)) return;
    const now = c.memory;
    this.totalBytes += now - c.reportedMemory;
    c.reportedMemory = now;
    if (this.totalBytes > this.limit && !this.evicting) this.enforce();
  }

  /** The client is gone: it holds nothing any more. */
  remove(c: MeasuredClient): void {
    if (!this.members.delete(c)) return;
    this.totalBytes -= c.reportedMemory;
    c.reportedMemory = 0;
  }

  /** The largest query and reply buffers a client holds now (INFO's client_recent_max_*_buffer). */
  largestBuffers(): { input: number; output: number } {
    let input = 0;
    let output = 0;
    for (const c of this.members) {
      input = Math.max(input, c.queryBytes);
      output = Math.max(output, c.outputBytes);
    }
    return { input, output };
  }

  private enforce(): void {
    this.evicting = true;
    try {
      this.totalBytes = 0;
      for (const c of this.members) {
        c.reportedMemory = c.memory;
        this.totalBytes += c.reportedMemory;
      }
      while (this.totalBytes > this.limit) {
        let largest: MeasuredClient | null = null;
        for (const c of this.members) {
          if (c.noEvict !== true && c.reportedMemory > 0 && (largest === null || c.reportedMemory > largest.reportedMemory)) largest = c;
        }
        if (largest === null) break;
        const bytes = largest.reportedMemory;
        this.remove(largest);
        this.onEvict(largest, bytes, this.totalBytes + bytes);
        largest.kill();
      }
    } finally {
      this.evicting = false;
    }
  }
}
