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
/** Sampled keys kept as a picture of the whole keyspace, to judge candidates by (see next()). */
const RESERVOIR = 64;
/** A candidate is taken once it is among this share of the best keys the picture shows… */
const TAKE_SHARE = 0.1;
/** …or once this many rounds of samples in one call found none that good. */
const MAX_ROUNDS = 32;
/** The picture is looked at again after this many evictions (it costs a lookup a key). */
const JUDGE_EVERY = 16;

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
 * best POOL_SIZE across rounds, and evicts the best once a sample of the whole
 * keyspace says it is good enough (next()). An evicted key is logged as a
 * delete, so recovery agrees. `volatile-*` never touches a key without an expiry.
 */
export class Evictor {
  private pool: Candidate[] = [];
  /** A uniform sample of the keys met over about the last round of the walk. */
  private readonly seen: ByteString[] = [];
  /** Keys sampled since the start: the picture is trusted only once they cover a round of the walk. */
  private sampled = 0;
  /** A candidate whose time (see when()) is after this is passed over while rounds remain. */
  private goodEnough = Infinity;
  private sinceJudged = JUDGE_EVERY;
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

  /**
   * The next key to evict, or undefined when there is none the policy may take.
   *
   * The walk goes round the keys in the order they were written, and that order often
   * follows the score: the newest keys were used last, and with one TTL for all, the
   * oldest expire first. Near the walk, then, every key is about as good as its
   * neighbours, and taking the best of each round would evict at the walk's pace all
   * over the keyspace, hardly better than at random (the newest keys included). So a
   * candidate is taken only when it is among the best TAKE_SHARE of a sample of the
   * whole keyspace; else the walk goes on, for at most MAX_ROUNDS rounds a call.
   */
  next(): ByteString | undefined {
    const population = this.volatileOnly ? this.backend.volatileCount : this.backend.size;
    if (population === 0) {
      this.pool = [];
      return undefined;
    }
    if (this.kind !== 'random' && ++this.sinceJudged >= JUDGE_EVERY) this.judge();
    // Until the walk has been round once, the picture shows only the keys near its start: walk fast, take the best found.
    const learning = this.kind !== 'random' && this.sampled < population;
    let rounds = 0;
    for (let attempt = 0; attempt < 4 * POOL_SIZE; attempt++) {
      this.fill(Math.min(this.samples, population), population);
      rounds++;
      const best = this.pool.shift();
      if (best === undefined) return undefined;
      const s = this.backend.peek(best.key);
      // Gone since it was sampled, or no longer a candidate (its expiry was removed).
      if (s === undefined || (this.volatileOnly && storedExpiry(s) === 0)) continue;
      // Used since it was sampled: its score is stale, sample again.
      const score = this.score(best.key, s);
      if (this.kind === 'lru' && score < best.score) continue;
      if (rounds < MAX_ROUNDS && (learning || this.when(score) > this.goodEnough)) {
        this.insert(best);
        continue;
      }
      return best.key;
    }
    return undefined;
  }

  /** A score as a time that stays put while the key is not touched: its last use (LRU) or its expiry (TTL). Earlier goes first. */
  private when(score: number): number {
    return this.kind === 'lru' ? this.backend.now() - score : -score;
  }

  /** Keeps a sampled key: the first RESERVOIR, then each in place of a random one with a chance of RESERVOIR/population (about a round's worth). */
  private remember(key: ByteString, population: number): void {
    this.sampled++;
    if (this.seen.length < RESERVOIR) this.seen.push(key);
    else if (this.random() * population < RESERVOIR) this.seen[Math.floor(this.random() * RESERVOIR)] = key;
  }

  /** Sets goodEnough from the kept keys that are still candidates, as they are now. */
  private judge(): void {
    this.sinceJudged = 0;
    const times: number[] = [];
    for (const key of this.seen) {
      const s = this.backend.peek(key);
      if (s !== undefined && !(this.volatileOnly && storedExpiry(s) === 0)) times.push(this.when(this.score(key, s)));
    }
    times.sort((a, b) => a - b);
    this.goodEnough = times.length < RESERVOIR / 2 ? Infinity : (times[Math.floor(TAKE_SHARE * times.length)] as number);
  }

  private fill(n: number, population: number): void {
    const rotor = this.volatileOnly ? this.backend.volatileKeys : this.backend.allKeys;
    for (let i = 0; i < n; i++) {
      if (this.kind === 'random') {
        // Skip a few keys so that the walk's order (insertion order) does not decide.
        const skip = Math.floor(this.random() * 8);
        for (let j = 0; j < skip; j++) rotor.next();
      }
      const key = rotor.next();
      if (key === undefined) return;
      if (this.pool.some((c) => c.key === key)) continue;
      const s = this.backend.peek(key);
      if (s === undefined) continue;
      if (this.kind !== 'random') this.remember(key, population);
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
