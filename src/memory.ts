/**
 * The memory the server holds, as --maxmemory counts it, and the check that
 * refuses writes past it.
 *
 * The store reports its own bytes exactly as it changes (keys, values, entries;
 * long values live outside V8's heap as external strings, which
 * --max-old-space-size does not see, so they are counted here by their length).
 * Every other holder (client buffers, the UDP reply cache, the log backlog)
 * registers a MemoryUser whose count is O(1) to read. Writes that grow the data
 * (`denyoom` commands, as Redis flags them) are refused while the total is over
 * the limit; reads, DEL and the rest go on.
 *
 * A second limit guards V8's heap: keys and short values live there, and the
 * process dies if the heap reaches --max-old-space-size. Writes are also refused
 * while the store's heap part passes HEAP_DATA_SHARE of the heap limit, or V8
 * reports its heap past HEAP_USED_SHARE (sampled, as a backstop for the estimate).
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { MemoryConfig } from './config.js';
import { KvError } from './errors.js';
import { formatSize } from './sizes.js';
import type { StatSection } from './stats.js';
import type { DataMemorySource } from './backend/memory/keyspace.js';

export interface MemoryUser {
  /** The INFO field it is shown as, e.g. `mem_clients_normal`. */
  readonly name: string;
  readonly bytes: () => number;
}

/**
 * Frees memory when the limit is reached (an eviction policy); returns the bytes it
 * freed (src/backend/memory/eviction.ts). Under `noeviction` there is none: at the limit, writes are refused.
 */
export type Evictor = (bytesOver: number) => number;

/** What the Node runtime itself needs beside the data (code, V8's own heap, buffers of the moment). */
export const RUNTIME_RESERVE = 96 * 1024 * 1024;
/** The smallest limit `auto` derives, however little memory the process may use. */
const MIN_AUTO_LIMIT = 16 * 1024 * 1024;
/** A percentage for --maxmemory-clients is at least this much, so that one large reply still fits. */
const MIN_CLIENTS_LIMIT = 32 * 1024 * 1024;
/** Share of V8's heap limit the store's heap part may fill: the GC needs room, and the snapshot worker, whose heap has the same limit, builds a copy of it. */
const HEAP_DATA_SHARE = 0.5;
/** Share of the heap limit past which V8's own figure refuses writes. */
const HEAP_USED_SHARE = 0.9;
const HEAP_SAMPLE_MS = 250;

/** Redis's reply, word for word: clients match on it. */
export const OOM_MESSAGE = "command not allowed when used memory > 'maxmemory'.";

export interface MemoryLimits {
  /** Bytes; 0: no limit. */
  readonly maxmemory: number;
  readonly maxmemoryClients: number;
  /** The memory the process may use: its cgroup's limit, else the machine's memory. */
  readonly usable: number;
  readonly usableFrom: 'cgroup' | 'system';
  /** How maxmemory was chosen, for the start-up line. */
  readonly how: string;
}

/** The memory the process may use: a cgroup's limit when one is set, else the machine's. */
export function usableMemory(): { bytes: number; from: 'cgroup' | 'system' } {
  const total = totalmem();
  // Node 20 answers 0 (or a huge number) with no limit set.
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? { bytes: constrained, from: 'cgroup' } : { bytes: total, from: 'system' };
}

/**
 * Resolves --maxmemory and --maxmemory-clients. `auto` leaves room for the runtime and,
 * with persistence on, for the snapshot worker, which holds a second copy of the data
 * while it runs: a third of what is left (a half without persistence). A restart under
 * the same limits then loads what was written and can still snapshot it.
 */
export function resolveMemoryLimits(config: MemoryConfig, persistence: boolean): MemoryLimits {
  const usable = usableMemory();
  let maxmemory: number;
  let how: string;
  if (config.maxmemory === 'auto') {
    const share = persistence ? 3 : 2;
    maxmemory = Math.max(MIN_AUTO_LIMIT, Math.floor((usable.bytes - RUNTIME_RESERVE) / share));
    how = `auto: (${formatSize(usable.bytes)} ${usable.from === 'cgroup' ? 'cgroup limit' : 'of system memory'} - ${formatSize(RUNTIME_RESERVE)}) / ${share}${persistence ? ', leaving room for the snapshot worker\'s copy' : ''}`;
  } else {
    maxmemory = config.maxmemory;
    how = maxmemory === 0 ? 'no limit (--maxmemory 0)' : '--maxmemory';
  }
  const c = config.maxmemoryClients;
  const maxmemoryClients =
    typeof c === 'number' ? c : Math.max(MIN_CLIENTS_LIMIT, Math.floor(((maxmemory > 0 ? maxmemory : usable.bytes) * c.percent) / 100));
  return { maxmemory, maxmemoryClients, usable: usable.bytes, usableFrom: usable.from, how };
}

export class MemoryBudget {
  private readonly users: MemoryUser[] = [];
  private evictor: Evictor | null = null;
  private policy = 'noeviction';
  private evictedKeys: () => number = () => 0;
  private readonly heapLimit: number;
  private readonly heapDataCap: number;
  private readonly heapUsedCap: number;
  private heapUsed = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Writes refused at the limit, for INFO. */
  refusals = 0;
  /** When a refusal was last logged (they are logged at most once a second). */
  private lastWarnAt = 0;
  private refusedSinceWarn = 0;

  constructor(
    readonly limits: MemoryLimits,
    private readonly store: DataMemorySource,
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void = () => undefined,
  ) {
    this.heapLimit = getHeapStatistics().heap_size_limit;
    this.heapDataCap = this.heapLimit * HEAP_DATA_SHARE;
    this.heapUsedCap = this.heapLimit * HEAP_USED_SHARE;
  }

  /** Starts sampling V8's heap figure; stop() ends it. */
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), HEAP_SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    this.heapUsed = getHeapStatistics().used_heap_size;
  }

  /** V8's heap limit (--max-old-space-size), which the second guard is a share of. */
  get heapSizeLimit(): number {
    return this.heapLimit;
  }

  register(user: MemoryUser): void {
    this.users.push(user);
  }

  /** Lets an eviction policy free memory before a write is refused; `evicted` counts the keys it took, for INFO. */
  setEvictor(evictor: Evictor | null, policy = 'noeviction', evicted: () => number = () => 0): void {
    this.evictor = evictor;
    this.policy = policy;
    this.evictedKeys = evicted;
  }

  /** Every byte counted: the data and every registered holder. */
  get used(): number {
    let n = this.store.dataBytes;
    for (const u of this.users) n += u.bytes();
    return n;
  }

  /**
   * Null when a write that grows the data may go ahead, else the OOM error to refuse
   * it with. Hot path: one call per such write; every count read is O(1).
   */
  writeRefusal(): KvError | null {
    const max = this.limits.maxmemory;
    let over = max > 0 ? this.used - max : 0;
    if (over > 0 && this.evictor !== null) over -= this.evictor(over);
    const heapFull = this.store.heapBytes > this.heapDataCap || this.heapUsed > this.heapUsedCap;
    if (over <= 0 && !heapFull) return null;
    this.refusals++;
    this.noteRefusal(heapFull && over <= 0);
    return new KvError('OOM', OOM_MESSAGE);
  }

  private noteRefusal(heap: boolean): void {
    this.refusedSinceWarn++;
    const now = Date.now();
    if (now - this.lastWarnAt < 1000) return;
    this.lastWarnAt = now;
    const refused = this.refusedSinceWarn;
    this.refusedSinceWarn = 0;
    this.warn(
      { usedMemory: this.used, maxmemory: this.limits.maxmemory, heapData: this.store.memory.heap, heapLimit: this.heapLimit, refused },
      heap
        ? "writes refused with OOM: the keys and short values fill V8's heap (raise --max-old-space-size, or delete keys)"
        : 'writes refused with OOM: used memory is over --maxmemory (raise --maxmemory, or delete keys)',
    );
  }

  /** INFO's memory section, with Redis's names where there is one. */
  section(): StatSection {
    const mem = process.memoryUsage();
    const data = this.store.memory;
    const out: StatSection = {
      used_memory: this.used,
      used_memory_human: formatSize(this.used),
      used_memory_rss: mem.rss,
      used_memory_rss_human: formatSize(mem.rss),
      used_memory_dataset: data.heap + data.external,
      used_memory_dataset_heap: data.heap,
      used_memory_dataset_external: data.external,
    };
    for (const u of this.users) out[u.name] = u.bytes();
    Object.assign(out, {
      used_memory_heap: mem.heapUsed,
      heap_size_limit: this.heapLimit,
      maxmemory: this.limits.maxmemory,
      maxmemory_human: this.limits.maxmemory > 0 ? formatSize(this.limits.maxmemory) : '0B',
      maxmemory_policy: this.policy,
      evicted_keys: this.evictedKeys(),
      maxmemory_clients: this.limits.maxmemoryClients,
      memory_usable: this.limits.usable,
      memory_usable_from: this.limits.usableFrom,
      oom_refused_writes: this.refusals,
    });
    return out;
  }
}
