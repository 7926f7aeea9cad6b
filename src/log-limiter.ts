/**
 * Rate limit for log lines a client can cause at will (refused datagrams, refused
 * connections, failed authentications), so a flood cannot fill the disk: at most
 * `perSecond` lines in each one-second window. The first line
 * after a window in which lines were held back says how many (`suppressed`); the
 * STATS counters keep the exact totals either way.
 */
export class RejectLogLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private held = 0;
  /** Lines held back over the server's life. */
  suppressedTotal = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Null when this line must be dropped; otherwise the number of lines dropped
   * since the last one that was written (0 most of the time).
   */
  admit(): number | null {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.held++;
      this.suppressedTotal++;
      return null;
    }
    this.inWindow++;
    const held = this.held;
    this.held = 0;
    return held;
  }

  /** Lines held back and not yet reported by a later line. */
  get pending(): number {
    return this.held;
  }
}
