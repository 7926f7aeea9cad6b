import type { ByteString } from '../../store/bytes.js';
import type { ShardedMap } from '../../store/sharded-map.js';
import type { ScanOptions, ScanPage } from '../types.js';

/** Open iterations kept at most: past it the least recently used one is forgotten (its cursor then reads as invalid). */
export const MAX_OPEN_SCANS = 4096;
/** A page of at most this many keys is kept, so that a client that lost the reply can ask for it again with the same cursor. */
const KEPT_PAGE_KEYS = 1024;

/** One open iteration: where it is in the map, and the page it gave last. */
interface Iteration {
  /** The cursor the client holds now. */
  id: string;
  /** The cursor before it, whose page is `lastPage`: asked again, it gets that page again. */
  lastId: string | null;
  lastPage: ScanPage | null;
  /** The Map of the ShardedMap being walked (its index), and the iterator over it. */
  segment: number;
  it: Iterator<string> | null;
}

/**
 * SCAN's iterations over the memory backend's keys. Redis's cursor walks its own hash
 * table's buckets in reverse-binary order, which V8's Map does not expose. A Map's
 * iterator, though, survives sets, deletes, growth and shrinking, and visits every
 * entry that is there from its start to its end (a key never moves once set). So an
 * iteration is an iterator per Map of the ShardedMap, in turn, kept here under the
 * cursor the client is given: every key present for the whole iteration is returned
 * once, and keys set meanwhile may be too.
 *
 * The cost is state per open iteration (an iterator, and the last page if small), so
 * at most MAX_OPEN_SCANS are kept; a client that abandons one costs nothing more
 * once it is forgotten. A cursor is a decimal number, as Redis's is.
 */
export class ScanCursors {
  private readonly open = new Map<string, Iteration>();
  /** Cursors are numbered from a random start, so that a cursor from before a restart is not taken for a new one. */
  private nextId = 1 + Math.floor(Math.random() * 2 ** 40);

  constructor(
    private readonly map: ShardedMap<unknown>,
    /** Whether a key found by the walk is live (an expired key is deleted by it, as any read does). */
    private readonly isLive: (key: ByteString) => boolean,
  ) {}

  /** How many iterations are open (INFO, tests). */
  get size(): number {
    return this.open.size;
  }

  /** One page, or null when `cursor` names no open iteration. */
  step(cursor: string, options: ScanOptions): ScanPage | null {
    let it: Iteration;
    if (cursor === '0') {
      it = { id: '0', lastId: null, lastPage: null, segment: 0, it: null };
    } else {
      const found = this.open.get(cursor);
      if (found === undefined) return null;
      it = found;
      this.touch(cursor, it);
      // The same cursor again: the client did not get the page (a timeout, a retry).
      if (cursor === it.lastId && it.lastPage !== null) return it.lastPage;
      if (cursor !== it.id) return null;
    }
    const keys = this.walk(it, options);
    if (it.it === null && it.segment >= this.map.segmentCount) {
      this.forget(it);
      return { cursor: '0', keys };
    }
    const page: ScanPage = { cursor: String(this.nextId++), keys };
    if (it.lastId !== null) this.open.delete(it.lastId);
    if (it.id !== '0') {
      it.lastId = it.id;
      it.lastPage = keys.length <= KEPT_PAGE_KEYS ? { cursor: page.cursor, keys } : null;
    }
    it.id = page.cursor;
    this.open.set(it.id, it);
    while (this.open.size > 2 * MAX_OPEN_SCANS) {
      const oldest = this.open.values().next().value as Iteration;
      this.forget(oldest);
    }
    return page;
  }

  /** Looks at about `count` keys from where the iteration stopped. */
  private walk(it: Iteration, { count, match }: ScanOptions): ByteString[] {
    const keys: ByteString[] = [];
    let looked = 0;
    while (looked < count) {
      if (it.it === null) {
        const m = this.map.segment(it.segment);
        if (m === undefined) break;
        it.it = m.keys();
      }
      const r = it.it.next();
      if (r.done === true) {
        it.it = null;
        it.segment++;
        continue;
      }
      looked++;
      const key = r.value;
      if ((match === null || match(key)) && this.isLive(key)) keys.push(key);
    }
    // Done with the last Map: say so now rather than with an empty page next time.
    if (it.it === null && this.map.segment(it.segment) === undefined) it.segment = this.map.segmentCount;
    return keys;
  }

  /** Most recently used last, so that the first is the one to forget. */
  private touch(cursor: string, it: Iteration): void {
    this.open.delete(cursor);
    this.open.set(cursor, it);
    if (it.lastId !== null && it.lastId !== cursor && this.open.has(it.lastId)) {
      this.open.delete(it.lastId);
      this.open.set(it.lastId, it);
    }
  }

  private forget(it: Iteration): void {
    this.open.delete(it.id);
    if (it.lastId !== null) this.open.delete(it.lastId);
  }
}
