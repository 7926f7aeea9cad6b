import type { KvError } from '../errors.js';
import type { ByteString } from './bytes.js';
import { SegmentedMap } from './segmented-map.js';

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
 * What the store's strings cost, as --maxmemory counts them. Node makes a string
 * from bytes on V8's heap when it is shorter than EXTERN_APEX, and outside it (an
 * external string, which --max-old-space-size does not see) when it is longer.
 */
export const EXTERNAL_STRING_MIN = 0xfbee9;
/** A heap string: a 16-byte header, then one byte a char, rounded up to 8. */
const STRING_HEADER = 16;
/** An external string's heap object and its malloc'd block's bookkeeping. */
const EXTERNAL_OVERHEAD = 64;
/** A Map entry's slots and its share of the hash table (about 30 bytes, measured; the table grows by doubling). */
export const ENTRY_OVERHEAD = 40;

/** The memory the store holds, split by where it lives. */
export interface StoreMemory {
  /** On V8's heap: entries, keys and values shorter than EXTERNAL_STRING_MIN. */
  readonly heap: number;
  /** Outside it: long values. */
  readonly external: number;
}

/**
 * The single in-memory store shared by every front-end. It knows no socket and
 * no file. All access happens on the main thread, so each single-key operation
 * is atomic: it runs to completion before any other command starts.
 */
export class Store {
  private readonly map = new SegmentedMap<ByteString>();
  private sink: MutationSink = memorySink;
  private heap = 0;
  private external = 0;

  setSink(sink: MutationSink): void {
    this.sink = sink;
  }

  get size(): number {
    return this.map.size;
  }

  /** Bytes held for keys and values (estimated from their lengths, as measured for V8). */
  get memory(): StoreMemory {
    return { heap: this.heap, external: this.external };
  }

  get dataBytes(): number {
    return this.heap + this.external;
  }

  /** The part on V8's heap (the memory guard reads it on every write, so no object is made). */
  get heapBytes(): number {
    return this.heap;
  }

  private count(s: string, sign: 1 | -1): void {
    if (s.length >= EXTERNAL_STRING_MIN) this.external += sign * (s.length + EXTERNAL_OVERHEAD);
    else this.heap += sign * ((STRING_HEADER + s.length + 7) & ~7);
  }

  private set(key: ByteString, value: ByteString): void {
    const old = this.map.set(key, value);
    if (old === undefined) {
      this.heap += ENTRY_OVERHEAD;
      this.count(key, 1);
    } else {
      this.count(old, -1);
    }
    this.count(value, 1);
  }

  private remove(key: ByteString): boolean {
    const old = this.map.delete(key);
    if (old === undefined) return false;
    this.heap -= ENTRY_OVERHEAD;
    this.count(key, -1);
    this.count(old, -1);
    return true;
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
    this.set(key, value);
    return { changed: true, durable: this.sink.record({ kind: 'put', key, value }) };
  }

  delete(key: ByteString): WriteResult {
    if (!this.remove(key)) return UNCHANGED;
    return { changed: true, durable: this.sink.record({ kind: 'del', key }) };
  }

  /** Applies a mutation without recording it: used by recovery when replaying files. */
  apply(mutation: Mutation): void {
    if (mutation.kind === 'put') this.set(mutation.key, mutation.value);
    else this.remove(mutation.key);
  }

  entries(): IterableIterator<[ByteString, ByteString]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
    this.heap = 0;
    this.external = 0;
  }
}
