/**
 * What waits in a StreamSession (stream-session.ts): requests read but not yet run, in
 * its backlog, and replies not yet written, in its order queue; and what each counts as.
 */
import type { KvError } from '../../errors.js';
import { ReplyWriter } from '../../protocol/reply-writer.js';
import { ARG_OVERHEAD_BYTES } from '../../protocol/sink.js';
import type { ByteString } from '../../store/bytes.js';

/**
 * Where replies that waited are encoded. encode and take() run without yielding, so
 * one writer serves every session (a fresh 16 KiB buffer per settled reply was a
 * measurable share of GC time under --fsync always).
 */
export const SCRATCH = new ReplyWriter();

/** What a request waiting in the backlog, or a reply still to come, is counted as beyond its bytes. */
export const SLOT_BYTES = 64;

/** What a reply silenced by CLIENT REPLY OFF or SKIP leaves in the order queue. */
export const NOTHING = Buffer.alloc(0);

/** A reply in the order queue: its bytes, or null while its promise is pending. */
export interface Slot {
  bytes: Buffer | null;
}

/** A request read but not yet run, because the replies before it are not being taken. */
export type Deferred = { readonly args: ByteString[] } | { readonly err: KvError };
/** What a run backlog entry is left holding, so that its arguments can be collected. */
const DONE: Deferred = { args: [] };

function deferredBytes(d: Deferred): number {
  if (!('args' in d)) return SLOT_BYTES;
  let n = 0;
  for (const a of d.args) n += a.length + ARG_OVERHEAD_BYTES;
  return n;
}

/** The requests read but not yet run, in the order they were read, and the bytes they hold. */
export class RequestBacklog {
  private readonly entries: Deferred[] = [];
  /** Index of the first entry still to run: taking one moves it on, without shifting the array. */
  private head = 0;
  private held = 0;

  /** Some request waits to run. */
  get waiting(): boolean {
    return this.head < this.entries.length;
  }

  /** What the waiting requests count as (query bytes, for --max-query-buffer and client memory). */
  get bytes(): number {
    return this.held;
  }

  add(d: Deferred): void {
    this.entries.push(d);
    this.held += deferredBytes(d);
  }

  /** The next request to run (only while `waiting`). */
  take(): Deferred {
    const d = this.entries[this.head] as Deferred;
    this.entries[this.head++] = DONE; // let the arguments go
    this.held -= deferredBytes(d);
    return d;
  }

  clear(): void {
    this.entries.length = 0;
    this.head = 0;
    this.held = 0;
  }
}
