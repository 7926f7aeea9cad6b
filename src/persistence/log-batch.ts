/**
 * The group commit's next batch: the records applied since the last write, encoded one
 * after another, and under `always` the promise their replies wait on.
 */
import type { Mutation } from '../backend/types.js';
import { encodeBatch, encodeMutation, recordSize } from './formats.js';
import { defer, type Deferred } from './log-io.js';

const INITIAL_BUFFER = 64 * 1024;
/** Buffers up to this size are kept for reuse; a batch that needed more gets a fresh one next time. */
const MAX_RECYCLED = 1024 * 1024;

/** A batch taken for writing: its bytes (a view of `owner`), its record count and its waiters. */
export interface TakenBatch {
  readonly data: Buffer;
  readonly owner: Buffer;
  readonly records: number;
  readonly waiters: Deferred | null;
}

export class LogBatch {
  private buf: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  private readonly spare: Buffer[] = [];
  private bytes = 0;
  private records = 0;
  private waiters: Deferred | null = null;

  /** Bytes gathered. */
  get length(): number {
    return this.bytes;
  }

  add(m: Mutation): void {
    const need = recordSize(m);
    if (this.bytes + need > this.buf.length) this.grow(need);
    this.bytes = encodeMutation(this.buf, this.bytes, m);
    this.records++;
  }

  /** Encodes mutations as one BATCH record of `need` bytes (batchSize in formats.ts). */
  addAll(ms: readonly Mutation[], need: number): void {
    if (this.bytes + need > this.buf.length) this.grow(need);
    this.bytes = encodeBatch(this.buf, this.bytes, ms);
    this.records += ms.length;
  }

  /** What the replies of the records gathered so far wait on. */
  durable(): Promise<void> {
    this.waiters ??= defer();
    return this.waiters.promise;
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.bytes + need));
    this.buf.copy(next, 0, 0, this.bytes);
    this.buf = next;
  }

  /** Takes what was gathered, and starts the next batch empty. */
  take(): TakenBatch {
    const owner = this.buf;
    const data = owner.subarray(0, this.bytes);
    const records = this.records;
    const waiters = this.waiters;
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(INITIAL_BUFFER);
    this.bytes = 0;
    this.records = 0;
    this.waiters = null;
    return { data, owner, records, waiters };
  }

  /**
   * A written batch's buffer is used again for a later one: a fresh 64 KiB buffer per
   * batch, thousands of times a second, kept the garbage collector busy.
   */
  recycle(owner: Buffer): void {
    if (this.spare.length < 2 && owner.length <= MAX_RECYCLED) this.spare.push(owner);
  }
}
