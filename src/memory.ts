/**
 * The memory the server holds, as --maxmemory counts it. The store reports its own
 * bytes exactly as it changes; every other holder (client buffers, the UDP reply
 * cache, the log backlog) registers a MemoryUser, read when the budget is sampled.
 */
export interface MemoryUser {
  /** The INFO field it is shown as, e.g. `mem_clients_normal`. */
  readonly name: string;
  readonly bytes: () => number;
}
