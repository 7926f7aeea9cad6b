import type { Backend } from '../backend/types.js';
import type { KvError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { CommandGroup, Dialect } from './dialects.js';
import type { OpLog } from '../op-log.js';
import type { Reply } from '../protocol/reply.js';
import type { ServerStats, StatSection } from '../stats.js';
import type { ByteString } from '../store/bytes.js';

/** How a client reaches the server (`tcp`, `udp`, …): an open set, as dialects are. */
export type Transport = string;
export type { CommandGroup, Dialect } from './dialects.js';

/** The memory limit as the commands see it (src/memory.ts implements it). */
export interface MemoryGuard {
  /** Null when a write that grows the data may go ahead, else the OOM error that refuses it. */
  writeRefusal(): KvError | null;
}

/** What the commands can reach: the backend and the server's shared services. Never a Map. */
export interface CommandContext {
  readonly backend: Backend;
  readonly stats: ServerStats;
  readonly limits: Limits;
  readonly memory: MemoryGuard;
  /** A command failed with an error of ours we did not expect (a bug): logged with its cause. */
  readonly reportInternalError: (err: unknown, command: string) => void;
  /** Parameters shown by CONFIG GET, by their Redis-style lower-case names. */
  readonly configParams: () => Record<string, string>;
  /** Every STATS/INFO section, the keyspace included. */
  readonly info: () => Record<string, StatSection>;
  /** Starts a snapshot (SAVE); absent when persistence is off. */
  save?: () => Promise<Reply>;
}

/** One client as the commands see it: who it is, and how it speaks. */
export interface Session {
  readonly transport: Transport;
  readonly dialect: Dialect;
  /** `address:port` of the peer. */
  readonly client: string;
  /** Writes this session's op lines; null when --no-log-ops (or the log level is above info). */
  readonly opLog: OpLog | null;
  /** Set by QUIT: the front-end closes the connection after this reply. */
  closing: boolean;
  /** CLIENT SETNAME. */
  name: string;
  readonly id: number;
  /** MULTI: the commands queued for EXEC; null outside a transaction. */
  multi: QueuedTransaction | null;
  /** WATCH: each watched key and its version when it was watched (0: absent); null when none. */
  watched: Map<ByteString, number> | null;
}

/** A transaction being queued (MULTI … EXEC). */
export interface QueuedTransaction {
  readonly commands: Array<{ readonly spec: CommandSpec; readonly args: ByteString[] }>;
  /** Bytes of the queued arguments (what the client's memory counts). */
  bytes: number;
  /** A command was refused while queueing: EXEC refuses the whole transaction (EXECABORT). */
  failed: boolean;
}

export interface CommandSpec {
  /** Lower-case canonical name. */
  readonly name: string;
  /** Redis arity: N > 0 means exactly N words (the name included); -N means at least N. */
  readonly arity: number;
  /** Writes must pass the store's write check (e.g. the log is healthy). */
  readonly write: boolean;
  /** May grow the data: refused with OOM at the memory limit (Redis's `denyoom` flag). DEL has it not. */
  readonly denyOom?: boolean;
  /** Position of the first key, or 0 for none; keys run to `lastKey` (-1: to the end). */
  readonly firstKey: number;
  readonly lastKey: number;
  /** Every how many arguments a key comes, from firstKey (MSET: 2); 1 when absent. */
  readonly keyStep?: number;
  /** Its group: a dialect that does not offer the group answers UNKNOWN_COMMAND. */
  readonly group: CommandGroup;
  /** Runs at once inside MULTI instead of being queued: EXEC, DISCARD, MULTI, WATCH, QUIT, RESET (as Redis). */
  readonly runsInMulti?: boolean;
  /** A one-line usage for error messages and HELP. */
  readonly usage: string;
  /** The usage in the text dialect, where it differs (a value that is the rest of the line: docs/PROTOCOL.md §1.2). */
  readonly textUsage?: string;
  readonly run: (ctx: CommandContext, session: Session, args: ByteString[]) => Reply | Promise<Reply>;
}
