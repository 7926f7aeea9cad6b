/**
 * Where the acknowledged records are. When the disk fails, the number an operator needs
 * is how many writes a client was told OK for that are not on disk.
 *
 * When a record counts as acknowledged depends on the policy: under `everysec` and `no`
 * the reply leaves as soon as the record is applied; under `always` only once its batch
 * is durable (and its segment still has a name, see file-check.ts).
 */
export class AckLedger {
  /** Acknowledged, not yet written: gathering, in flight, or held back by a failing disk. */
  private unwritten = 0;
  /** Written, not yet fdatasynced. */
  private unsynced = 0;
  /** Acknowledged records written into the current segment, durable or not. */
  private inSegment = 0;
  /** Acknowledged records whose segment was deleted under us. */
  private lost = 0;
  /** Every record acknowledged since the log was opened. */
  private total = 0;

  constructor(private readonly ackOnApply: boolean) {}

  /** A record was applied (and, under everysec/no, its reply may leave now). */
  applied(): void {
    if (!this.ackOnApply) return;
    this.unwritten++;
    this.total++;
  }

  /**
   * `n` records reached the current segment. Under `always` the write was durable and
   * the caller acknowledges them now; otherwise they still wait for an fdatasync.
   */
  written(n: number): void {
    this.inSegment += n;
    if (this.ackOnApply) {
      this.unwritten -= n;
      this.unsynced += n;
    } else {
      this.total += n;
    }
  }

  /** Records held back by a failing disk were written after all (never acknowledged under `always`). */
  backlogWritten(n: number): void {
    if (this.ackOnApply) this.written(n);
  }

  /** An fdatasync that covered `n` written records returned. */
  synced(n: number): void {
    this.unsynced = Math.max(0, this.unsynced - n);
  }

  /** Written records waiting for an fdatasync: what the next one covers. */
  get awaitingSync(): number {
    return this.unsynced;
  }

  /** The current segment lost its name: nothing acknowledged into it is on disk any more. */
  segmentLost(): void {
    this.lost += this.inSegment;
    this.inSegment = 0;
    this.unsynced = 0;
  }

  /** Rotation: the old segment was fdatasynced whole and closed. */
  segmentClosed(): void {
    this.inSegment = 0;
    this.unsynced = 0;
  }

  /** Acknowledged records not on disk. When the whole directory went, that is all of them. */
  notOnDisk(dirGone: boolean): number {
    return dirGone ? this.total : this.lost + this.unwritten + this.unsynced;
  }
}
