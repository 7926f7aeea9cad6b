import { performance } from 'node:perf_hooks';
import type { ByteString } from '../../store/bytes.js';
import { AccessClock } from './access-clock.js';
import type { MemoryBackend } from './memory-backend.js';
import { storedExpiry } from './stored-value.js';

/** --maxmemory-policy, with Redis's names. */
export const EVICTION_POLICIES = ['noeviction', 'allkeys-lru', 'volatile-lru', 'volatile-ttl', 'allkeys-random', 'volatile-random'] as const;
export type EvictionPolicy = (typeof EVICTION_POLICIES)[number];

/** Candidates kept between evictions (Redis's EVPOOL_SIZE). */
const POOL_SIZE = 16;
/** One write spends at most this long evicting; what is still over is refused with OOM, and the next write goes on. */
const EVICT_BUDGET_MS = 5;

interface Candidate {
  readonly key: ByteString;
  /** Higher goes first. */
  readonly score: number;
}

/**
 * Frees memory at --maxmemory by the policy's choice of keys, approximated by
 * sampling as Redis does: each round takes `samples` keys (the next ones of a walk
 * round all keys, or the keys with an expiry for `volatile-*`), scores them (idle
 * time for LRU, nearness of expiry for TTL, a random number for random), keeps the
 * best POOL_SIZE across rounds, and evicts the best. An evicted key is logged as a
 * delete, so recovery agrees. `volatile-*` never touches a key without an expiry.
 */
export class Evictor {
  private pool: Candidate[] = [];
  private readonly volatileOnly: boolean;
  private readonly kind: 'lru' | 'ttl' | 'random';

  constructor(
    private readonly backend: MemoryBackend,
    readonly policy: Exclude<EvictionPolicy, 'noeviction'>,
    private readonly samples: number,
    private readonly random: () => number = Math.random,
  ) {
    this.volatileOnly = policy.startsWith('volatile-');
    this.kind = policy.endsWith('-lru') ? 'lru' : policy.endsWith('-ttl') ? 'ttl' : 'random';
    if (this.kind === 'lru') backend.access ??= new AccessClock(backend.now, backend.size);
  }

  /** Evicts until `bytesOver` bytes are freed, no candidate is left, or the time budget is spent. Returns the bytes freed. */
  evict(bytesOver: number): number {
    const deadline = performance.now() + EVICT_BUDGET_MS;
    this.backend.access?.fit(this.backend.size);
    let freed = 0;
    while (freed < bytesOver) {
      const key = this.next();
      if (key === undefined) break;
      freed += this.backend.evict(key);
      if (performance.now() > deadline) break;
    }
    return freed;
  }

  /** The next key to evict, or undefined when there is none the policy may take. */
  next(): ByteString | undefined {
    const population = this.volatileOnly ? this.backend.volatileCount : this.backend.size;
    if (population === 0) {
      this.pool = [];
      return undefined;
    }
    for (let attempt = 0; attempt < 4 * POOL_SIZE; attempt++) {
      this.fill(Math.min(this.samples, population));
      const best = this.pool.shift();
      if (best === undefined) return undefined;
      const s = this.backend.peek(best.key);
      // Gone since it was sampled, or no longer a candidate (its expiry was removed).
      if (s === undefined || (this.volatileOnly && storedExpiry(s) === 0)) continue;
      // Used since it was sampled: its score is stale, sample again.
      if (this.kind === 'lru' && this.score(best.key, s) < best.score) continue;
      return best.key;
    }
    return undefined;
  }

  private fill(n: number): void {
    const rotor = this.volatileOnly ? this.backend.volatileKeys : this.backend.allKeys;
    for (let i = 0; i < n; i++) {
      if (this.kind === 'random') {
        // Skip a few keys so that the walk's order (insertion order) does not decide.
        const skip = Math.floor(this.random() * 8);
        for (let j = 0; j < skip; j++) rotor.next();
      }
      const e = rotor.next();
      if (e === undefined) return;
      const key = e[0];
      if (this.pool.some((c) => c.key === key)) continue;
      const s = this.backend.peek(key);
      if (s === undefined) continue;
      this.insert({ key, score: this.score(key, s) });
    }
  }

  private score(key: ByteString, stored: string): number {
    switch (this.kind) {
      case 'lru':
        return (this.backend.access as AccessClock).idleMs(key);
      case 'ttl':
        return -storedExpiry(stored);
      case 'random':
        return this.random();
    }
  }

  private insert(c: Candidate): void {
    const pool = this.pool;
    let i = pool.length;
    while (i > 0 && (pool[i - 1] as Candidate).score < c.score) i--;
    if (i >= POOL_SIZE) return;
    pool.splice(i, 0, c);
    if (pool.length > POOL_SIZE) pool.pop();
  }
}
