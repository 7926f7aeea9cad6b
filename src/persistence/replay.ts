/**
 * Records read from the files, handed to a store: what recovery does at start and what
 * the snapshot worker does to fold files. Both go through this one path, so that the
 * worker's snapshot holds exactly what a restart would have loaded.
 *
 * Versions: a format-2 record names the revision its write took. A format-1 record
 * names none, so it takes the next revision, in file order, as if this server had
 * just written it: recovery and the worker read the same files in the same order, so
 * they give it the same number, and the snapshot then writes it down.
 *
 * Expiry: every record is handed on, and the store drops what has expired by its own
 * clock (DurableStore: a PUT or EXPIRE into the past deletes the key, which must not come
 * back from an older record); the revision of a record dropped so still counts.
 */
import type { DurableStore, Mutation } from '../backend/types.js';
import { RecordType } from './formats.js';
import { type DecodedRecord } from './record-decode.js';

/** What the replay needs of a store. */
export type ReplayTarget = Pick<DurableStore, 'recoverPut' | 'applyRecovered' | 'raiseRevision'>;

export class Replay {
  /** The highest revision any record or END named, or that a format-1 record was given. */
  private highest = 0;

  constructor(private readonly store: ReplayTarget) {}

  get revision(): number {
    return this.highest;
  }

  /** A revision named elsewhere (a snapshot's END record). */
  noteRevision(revision: number): void {
    if (revision > this.highest) this.highest = revision;
  }

  /** A record's version: its own, or for a format-1 record the next revision. */
  private versionOf(r: DecodedRecord): number {
    if (r.version === 0) return ++this.highest;
    if (r.version > this.highest) this.highest = r.version;
    return r.version;
  }

  /**
   * A record of a snapshot or a log: a mutation, applied again (an arrow, so that it can
   * be passed as the reader's callback). A PUT means "this key holds this value now" in
   * either file, and goes in from the read buffer's bytes (the reader need not make its
   * value a string: DecodedRecord.sliceValue).
   */
  readonly record = (r: DecodedRecord): void => {
    if (r.type === RecordType.PUT) this.store.recoverPut(r.key, r.buf, r.valueStart, r.valueEnd, this.versionOf(r), r.expiresAt);
    else this.store.applyRecovered(toMutation(r, this.versionOf(r)));
  };

  /** Tells the store the revision to go on from. */
  finish(): void {
    this.store.raiseRevision(this.highest);
  }
}

/** A record (PUT, DEL, EXPIRE, FLUSH) as the mutation it records. */
export function toMutation(r: DecodedRecord, version: number): Mutation {
  switch (r.type) {
    case RecordType.PUT:
      return { kind: 'put', key: r.key, value: r.value, version, expiresAt: r.expiresAt };
    case RecordType.DEL:
      return { kind: 'del', key: r.key, version };
    case RecordType.FLUSH:
      return { kind: 'flush', version };
    default:
      return { kind: 'expire', key: r.key, version, expiresAt: r.expiresAt };
  }
}
