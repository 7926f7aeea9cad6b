import type { ByteString } from '../../store/bytes.js';
import type { ChangeEvent, ChangePage, ChangeQuery } from '../types.js';

/** Changes kept at most, and bytes of their keys: past either the oldest go (a watcher that far behind is told to read again). */
export const CHANGE_LOG_ENTRIES = 100_000;
export const CHANGE_LOG_KEY_BYTES = 16 * 1024 * 1024;
/**
 * The bytes kept until anyone reads the history: a server nobody watches keeps only a
 * little (a first watcher from before that is told `compacted` and reads the keys
 * again), instead of holding 16 MiB of keys for no one.
 */
export const QUIET_KEY_BYTES = 256 * 1024;
/** What an entry's key costs beyond its bytes (the string's header), counted against the budget. */
const ENTRY_COST = 24;
/** Watchers waiting at once at most: one more is refused rather than slowing every write. */
export const MAX_WAITERS = 10_000;

interface Waiter {
  readonly query: ChangeQuery;
  readonly since: number;
  done: (page: ChangePage) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * The watch facility's memory: the most recent changes, as a ring of (key, version, op),
 * and the watchers waiting for the next one. A change is appended as it is applied, so
 * a watcher that names the version it last saw (a key's, or a listing's revision) misses
 * nothing after it: what happened meanwhile is in the ring, and what happens next wakes
 * it. A watcher further behind than the ring reaches is told so (`compacted`), as etcd
 * answers a compacted revision, and reads the keys again.
 */
/** An entry's slots in the three rings: a pointer, a float and a pointer. */
const SLOT_BYTES = 3 * 8;

export class ChangeLog {
  private readonly keys: Array<ByteString | null> = new Array(CHANGE_LOG_ENTRIES).fill(null);
  private readonly versions = new Float64Array(CHANGE_LOG_ENTRIES);
  private readonly ops: Array<ChangeEvent['op']> = new Array(CHANGE_LOG_ENTRIES).fill('put');
  /** Index of the oldest entry, and how many there are. */
  private head = 0;
  private count = 0;
  private keyBytes = 0;
  /** QUIET_KEY_BYTES until the first read or wait, then CHANGE_LOG_KEY_BYTES. */
  private budget = QUIET_KEY_BYTES;
  /** The highest version the log dropped (0: none): a watcher from before it may have missed changes. */
  private droppedUpTo = 0;
  private readonly waiters = new Set<Waiter>();

  /**
   * `startsAfter`: the revision the history begins after (0: the first); a watcher from
   * before it is told `compacted`, as one from before a dropped change is.
   */
  constructor(
    private readonly currentRevision: () => number,
    startsAfter = 0,
  ) {
    this.droppedUpTo = startsAfter;
  }

  /** Changes up to `revision` may be missing (a watch that had to start again there): watchers from before it read again. */
  forgetUpTo(revision: number): void {
    this.droppedUpTo = Math.max(this.droppedUpTo, revision);
  }

  /**
   * What the history holds, for --maxmemory's count (INFO mem_change_log): each kept key
   * and its three ring slots. The empty rings (2.4 MB, allocated at start) are the runtime's, as code is.
   */
  get bytes(): number {
    return this.keyBytes + this.count * SLOT_BYTES;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  append(key: ByteString, version: number, op: ChangeEvent['op']): void {
    const cost = key.length + ENTRY_COST;
    while (this.count > 0 && (this.count === CHANGE_LOG_ENTRIES || this.keyBytes + cost > this.budget)) this.dropOldest();
    const at = (this.head + this.count) % CHANGE_LOG_ENTRIES;
    this.keys[at] = key;
    this.versions[at] = version;
    this.ops[at] = op;
    this.count++;
    this.keyBytes += cost;
    if (this.waiters.size > 0) this.wake(key, op);
  }

  private dropOldest(): void {
    if (this.count === 0) return;
    const key = this.keys[this.head] as ByteString;
    this.droppedUpTo = this.versions[this.head] as number;
    this.keyBytes -= key.length + ENTRY_COST;
    this.keys[this.head] = null;
    this.head = (this.head + 1) % CHANGE_LOG_ENTRIES;
    this.count--;
  }

  /** The changes after `since` that the query matches, up to its limit; `compacted` when some may be gone. */
  read(since: number, query: ChangeQuery): ChangePage {
    // Someone watches: from now on the whole budget is kept.
    this.budget = CHANGE_LOG_KEY_BYTES;
    const events: ChangeEvent[] = [];
    const compacted = since < this.droppedUpTo;
    // Versions grow along the ring: find the first entry after `since` by binary search.
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.versions[(this.head + mid) % CHANGE_LOG_ENTRIES] as number) <= since) lo = mid + 1;
      else hi = mid;
    }
    let last = since;
    let i = lo;
    for (; i < this.count; i++) {
      const at = (this.head + i) % CHANGE_LOG_ENTRIES;
      const version = this.versions[at] as number;
      // A full page still takes the rest of its last revision (the keys of one etcd
      // transaction share one): going on from the page's revision must miss none.
      if (events.length >= query.limit && version !== last) break;
      const key = this.keys[at] as ByteString;
      const op = this.ops[at] as ChangeEvent['op'];
      last = version;
      if (op === 'flush' || query.match === null || query.match(key)) events.push({ key, version, op });
    }
    // A page that looked at every entry reaches the newest revision: nothing else matched up to it.
    const revision = i === this.count ? Math.max(last, this.currentRevision()) : last;
    return { events, revision, compacted };
  }

  /** As read(), but when nothing matches yet, waits up to query.waitMs for the first change that does. */
  wait(since: number, query: ChangeQuery): ChangePage | Promise<ChangePage> {
    const now = this.read(since, query);
    if (now.events.length > 0 || now.compacted || query.waitMs <= 0) return now;
    if (this.waiters.size >= MAX_WAITERS) throw new WatchLimitError();
    return new Promise((resolve) => {
      const onAbort = () => w.done(this.read(since, query));
      const w: Waiter = {
        query,
        since,
        timer: null,
        done: (page) => {
          if (w.timer !== null) clearTimeout(w.timer);
          // An SSE stream waits again and again on one signal: each wait takes its listener away with it.
          query.signal?.removeEventListener('abort', onAbort);
          this.waiters.delete(w);
          resolve(page);
        },
      };
      w.timer = setTimeout(() => w.done(this.read(since, query)), query.waitMs);
      w.timer.unref();
      this.waiters.add(w);
      query.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wake(key: ByteString, op: ChangeEvent['op']): void {
    for (const w of [...this.waiters]) {
      if (op === 'flush' || w.query.match === null || w.query.match(key)) {
        // After this turn: a unit (EXEC, MSET) appends all its changes before anyone reads them.
        const { since, query } = w;
        this.waiters.delete(w);
        queueMicrotask(() => w.done(this.read(since, query)));
      }
    }
  }
}

export class WatchLimitError extends Error {
  override readonly name = 'WatchLimitError';
  constructor() {
    super(`${MAX_WAITERS} watchers are waiting already`);
  }
}
