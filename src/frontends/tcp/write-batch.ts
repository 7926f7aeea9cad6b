/**
 * Reply bytes held until the end of the event loop's turn, then written to each socket
 * at once, as Redis writes its replies in beforeSleep after reading every ready client.
 *
 * Written by hand because it is the hot path, and no stream option does it: a write to
 * a loopback or LAN socket wakes the reader in the same system call, and a client that
 * has gone back to sleep since the last reply costs a full wake-up (an IPI on a VM) for
 * every write. Writing each client's replies as soon as its chunk had run woke the
 * client once per chunk, each time after it had gone back to sleep; 21 % of the
 * server's CPU went to those wake-ups under `redis-benchmark -P 16`. Written together
 * after every ready socket has been read, most writes find their reader already awake.
 */

/** What a WriteBatch flushes. */
export interface BatchedOutput {
  /** Hands what it holds to its socket. */
  flushHeld(): void;
}

/** At most this many bytes wait for the end of the turn; past it a connection writes at once. */
export const HELD_BYTES_LIMIT = 64 * 1024;

export class WriteBatch {
  private readonly due: BatchedOutput[] = [];
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    // A flush may queue more (a reply that settles as the socket takes bytes): it goes next turn.
    const n = this.due.length;
    for (let i = 0; i < n; i++) (this.due[i] as BatchedOutput).flushHeld();
    this.due.splice(0, n);
  };

  /** `out` holds bytes: it is flushed once the I/O callbacks of this turn have run (setImmediate). */
  add(out: BatchedOutput): void {
    this.due.push(out);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }
}

/** The one batch every TCP connection of the process shares. */
export const WRITE_BATCH = new WriteBatch();
