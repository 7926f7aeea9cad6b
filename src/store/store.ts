import type { KvError } from '../errors.js';
import type { ByteString } from './bytes.js';

/** One change to the store, as handed to durability (the append-only log). */
export type Mutation =
  | { readonly kind: 'put'; readonly key: ByteString; readonly value: ByteString }
  | { readonly kind: 'del'; readonly key: ByteString };

/**
 * Where mutations go after they are applied in memory. The in-memory default
 * keeps nothing; the persistence layer plugs in an append-only log.
 */
export interface MutationSink {
  /** Null while writes are accepted; otherwise the error every write is refused with. */
  writeBlocker(): KvError | null;
  /**
   * Records one applied mutation. Returns a promise when the reply must wait until
   * the record is durable (e.g. `--fsync always`), or undefined when it need not.
   */
  record(mutation: Mutation): Promise<void> | undefined;
}

export const memorySink: MutationSink = {
  writeBlocker: () => null,
  record: () => undefined,
};

/** The outcome of a write: whether it changed anything, and what to wait for. */
export interface WriteResult {
  readonly changed: boolean;
  readonly durable: Promise<void> | undefined;
}

const UNCHANGED: WriteResult = { changed: false, durable: undefined };

/**
 * The single in-memory store shared by every front-end. It knows no socket and
 * no file. All access happens on the main thread, so each single-key operation
 * is atomic: it runs to completion before any other command starts.
 */
export class Store {
  private readonly map = new Map<ByteString, ByteString>();
  private sink: MutationSink = memorySink;

  setSink(sink: MutationSink): void {
    this.sink = sink;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: ByteString): ByteString | undefined {
    return this.map.get(key);
  }

  has(key: ByteString): boolean {
    return this.map.has(key);
  }

  /** Null when a write may go ahead, else the error that refuses it (e.g. the log failed). */
  writeBlocker(): KvError | null {
    return this.sink.writeBlocker();
  }

  put(key: ByteString, value: ByteString): WriteResult {
    this.map.set(key, value);
    return { changed: true, durable: this.sink.record({ kind: 'put', key, value }) };
  }

  delete(key: ByteString): WriteResult {
    if (!this.map.delete(key)) return UNCHANGED;
    return { changed: true, durable: this.sink.record({ kind: 'del', key }) };
  }

  /** Applies a mutation without recording it: used by recovery when replaying files. */
  apply(mutation: Mutation): void {
    if (mutation.kind === 'put') this.map.set(mutation.key, mutation.value);
    else this.map.delete(mutation.key);
  }

  entries(): IterableIterator<[ByteString, ByteString]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
  }
}
