import { performance } from 'node:perf_hooks';
import { KvError } from '../../src/errors.js';
import type { RespValue } from './resp-reply.js';

/** A request sent and not yet answered. */
export interface InFlight {
  readonly resolve: (reply: RespValue) => void;
  readonly reject: (err: KvError) => void;
  /** performance.now() after which it times out; Infinity for never. */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly name: string;
  /** Settled already (timed out): its reply, when it comes, is read and dropped. */
  settled: boolean;
}

/**
 * The requests in flight on one connection, oldest first. A RESP server answers
 * in request order, so each reply belongs to the oldest entry.
 *
 * A request that times out is rejected at once but keeps its place, so that its
 * late reply (if any) is matched to it and dropped, and no later request is ever
 * handed a reply that is not its own.
 *
 * One timer serves the whole queue, armed for the earliest deadline: a timer per
 * request would cost more than the request itself in a pipelined load test.
 */
export class RequestQueue {
  private items: Array<InFlight | undefined> = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  constructor(private readonly onTimeout: (entry: InFlight) => KvError) {}

  /** Requests waiting for a reply, including timed-out ones whose reply has not come. */
  get length(): number {
    return this.items.length - this.head;
  }

  push(entry: InFlight): void {
    this.items.push(entry);
    if (entry.deadline < this.timerAt) this.arm(entry.deadline);
  }

  /** The oldest entry, removed; undefined when nothing is in flight. */
  shift(): InFlight | undefined {
    if (this.head >= this.items.length) return undefined;
    const entry = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.disarm();
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /** Rejects every unsettled entry with `err(entry)` and empties the queue. */
  failAll(err: (entry: InFlight) => KvError): void {
    const items = this.items;
    const head = this.head;
    this.items = [];
    this.head = 0;
    this.disarm();
    for (let i = head; i < items.length; i++) {
      const e = items[i];
      if (e && !e.settled) {
        e.settled = true;
        e.reject(err(e));
      }
    }
  }

  private arm(at: number): void {
    this.disarm();
    if (at === Infinity) return;
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, Math.ceil(at - performance.now())));
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /** Rejects what is past its deadline, then re-arms for the next deadline. */
  private expire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (let i = this.head; i < this.items.length; i++) {
      const e = this.items[i];
      if (e === undefined || e.settled) continue;
      if (e.deadline <= now) {
        e.settled = true;
        e.reject(this.onTimeout(e));
      } else if (e.deadline < next) next = e.deadline;
    }
    if (next !== Infinity) this.arm(next);
  }
}
