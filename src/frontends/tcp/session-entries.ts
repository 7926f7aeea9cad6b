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
export const DONE: Deferred = { args: [] };

export function deferredBytes(d: Deferred): number {
  if (!('args' in d)) return SLOT_BYTES;
  let n = 0;
  for (const a of d.args) n += a.length + ARG_OVERHEAD_BYTES;
  return n;
}
