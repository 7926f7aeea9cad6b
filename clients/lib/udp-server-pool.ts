import { randomInt } from 'node:crypto';
import { formatAddress, type ServerAddress } from './server-list.js';

/** How long a server that let a request time out is passed over as a first choice. */
export const DEFAULT_COOLDOWN_MS = 2000;

export interface ServerPoolOptions {
  /** Start each request at the next server in turn, instead of always at the first. */
  readonly spread?: boolean;
  readonly cooldownMs?: number;
  /** Where --spread's turn starts; random unless given, so that many one-shot CLIs spread too. */
  readonly start?: number;
  readonly now?: () => number;
}

/**
 * Which of several UDP servers a datagram goes to (README "kv-udp", several servers).
 * A new request goes to the first server (with `spread`, the next in turn); a retry
 * after a timeout goes to the next server after the one that did not answer. A server
 * that let a request time out cools down for `cooldownMs`: it is passed over while
 * another is not cooling, and tried again after.
 */
export class ServerPool {
  private readonly cooledUntil: number[];
  private turn: number;
  private readonly spread: boolean;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(
    readonly servers: readonly ServerAddress[],
    opts: ServerPoolOptions = {},
  ) {
    if (servers.length === 0) throw new RangeError('a server pool needs at least one server');
    this.cooledUntil = servers.map(() => 0);
    this.spread = opts.spread ?? false;
    this.cooldownMs = opts.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.now = opts.now ?? Date.now;
    this.turn = (opts.start ?? (this.spread ? randomInt(servers.length) : 0)) % servers.length;
  }

  get size(): number {
    return this.servers.length;
  }

  name(i: number): string {
    return formatAddress(this.servers[i] as ServerAddress);
  }

  /** The server a new request starts at. */
  first(): number {
    const base = this.spread ? this.turn : 0;
    if (this.spread) this.turn = (this.turn + 1) % this.size;
    return this.fromOn(base);
  }

  /** The server a retry goes to after `i` let it time out; `i` cools down. */
  afterTimeout(i: number): number {
    if (this.size === 1) return i;
    this.cooledUntil[i] = this.now() + this.cooldownMs;
    return this.fromOn((i + 1) % this.size);
  }

  /** The first server from `base` on (wrapping) that is not cooling down; `base` when all are. */
  private fromOn(base: number): number {
    const now = this.now();
    for (let k = 0; k < this.size; k++) {
      const i = (base + k) % this.size;
      if ((this.cooledUntil[i] as number) <= now) return i;
    }
    return base;
  }
}
