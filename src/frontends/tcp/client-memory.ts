/**
 * The cap on what all TCP clients hold together (Redis 7's maxmemory-clients):
 * query bytes (unfinished requests, requests waiting to run) and reply bytes owed.
 * Past it the client holding the most is disconnected, then the next, until the
 * total fits again.
 *
 * Each connection reports after its buffers change; the total is kept from those
 * reports, so it costs O(1) per report. A socket's buffer also shrinks between
 * reports, as the kernel takes bytes, so the total can only be too high: before
 * anyone is disconnected every connection is measured again.
 */
export interface MeasuredClient {
  readonly memory: number;
  reportedMemory: number;
  /** CLIENT NO-EVICT ON: never picked, as in Redis; its bytes still count. */
  readonly noEvict?: boolean;
  kill(): void;
}

export class ClientMemoryCap<C extends MeasuredClient> {
  private totalBytes = 0;
  private evicting = false;

  constructor(
    private readonly clients: () => Iterable<C>,
    private readonly limit: number,
    private readonly onEvict: (client: C, bytes: number, total: number) => void,
  ) {}

  get total(): number {
    return this.totalBytes;
  }

  /** The client's buffers changed size. */
  update(c: C): void {
    const now = c.memory;
    this.totalBytes += now - c.reportedMemory;
    c.reportedMemory = now;
    if (this.totalBytes > this.limit && !this.evicting) this.enforce();
  }

  /** The client is gone: it holds nothing any more. */
  remove(c: C): void {
    this.totalBytes -= c.reportedMemory;
    c.reportedMemory = 0;
  }

  private enforce(): void {
    this.evicting = true;
    try {
      this.totalBytes = 0;
      for (const c of this.clients()) {
        c.reportedMemory = c.memory;
        this.totalBytes += c.reportedMemory;
      }
      while (this.totalBytes > this.limit) {
        let largest: C | null = null;
        for (const c of this.clients()) {
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
