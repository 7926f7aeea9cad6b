import type { ByteString } from '../../store/bytes.js';
import type { ScanOptions, ScanPage } from '../types.js';
import type { Engine } from './engine.js';

/** Open iterations a gateway keeps at most: past it the least recently used one is forgotten. */
export const MAX_OPEN_REMOTE_SCANS = 4096;

interface Iteration {
  /** The engine's state to go on from. */
  readonly next: unknown;
  /** The cursor before this one and the page it gave, so that a client that lost a reply can ask again. */
  readonly lastCursor: string;
  readonly lastPage: ScanPage;
}

/**
 * SCAN over a remote engine. Redis clients (redis-py among them) read a cursor as a
 * decimal number, and an engine's position (etcd: the last key; Redis Cluster: a node
 * and its own cursor) is not one, so the gateway keeps each open iteration under a
 * number it hands out. A cursor therefore belongs to the gateway that gave it: a client
 * must go on with the same gateway (one connection does), as the guarantee matrix says.
 */
export class RemoteScans {
  private readonly open = new Map<string, Iteration>();
  private nextId = 1 + Math.floor(Math.random() * 2 ** 40);

  constructor(private readonly engine: Engine) {}

  async step(cursor: string, options: ScanOptions): Promise<ScanPage | null> {
    let from: unknown = null;
    if (cursor !== '0') {
      const it = this.open.get(cursor);
      if (it === undefined) {
        for (const prev of this.open.values()) if (prev.lastCursor === cursor) return prev.lastPage;
        return null;
      }
      this.open.delete(cursor);
      from = it.next;
    }
    const step = await this.engine.scan(from, Math.max(1, options.count));
    const keys = options.match === null ? step.keys : step.keys.filter(options.match);
    if (step.next === null) return { cursor: '0', keys };
    const id = String(this.nextId++);
    const page: ScanPage = { cursor: id, keys };
    this.open.set(id, { next: step.next, lastCursor: cursor, lastPage: page });
    if (this.open.size > MAX_OPEN_REMOTE_SCANS) this.open.delete(this.open.keys().next().value as string);
    return page;
  }

  /** Every key `match` accepts (KEYS): the whole walk. */
  async all(match: ((key: ByteString) => boolean) | null): Promise<ByteString[]> {
    const out: ByteString[] = [];
    let from: unknown = null;
    do {
      const step = await this.engine.scan(from, 1000);
      for (const k of step.keys) if (match === null || match(k)) out.push(k);
      from = step.next;
    } while (from !== null);
    return out;
  }
}
