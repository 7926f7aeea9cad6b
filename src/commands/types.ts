import type { Permission } from '../auth/users-file.js';
import type { Backend } from '../backend/types.js';
import type { KvError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { CommandGroup, Dialect } from './dialects.js';
import type { OpLog } from '../op-log.js';
import type { Reply } from '../protocol/reply.js';
import type { StopOptions } from '../stop-options.js';
import type { ServerStats, StatSection } from '../stats.js';
import type { ByteString } from '../store/bytes.js';

/** How a client reaches the server (`tcp`, `udp`, …): an open set, as dialects are. */
export type Transport = string;
export type { CommandGroup, Dialect } from './dialects.js';

/** A user as the commands see it: who, and what they may run (src/auth/). */
export interface AuthUser {
  readonly name: string;
  readonly permission: Permission;
}

/** Why a command was refused for its session's user. */
export type DenyReason = 'noauth' | 'noperm';

/**
 * Who may run what (src/auth/access-control.ts implements it): the users and their
 * secrets, the audit log and its counters. A session's `user` is null until it authenticates.
 */
export interface AccessControl {
  /** Credentials are configured: a session starts with no user and must authenticate. */
  readonly required: boolean;
  /** The user a new session starts as: the `default` user with every permission when nothing is configured, else null. */
  initialUser(): AuthUser | null;
  /** Checks a user's password in constant time, and logs and counts the attempt (never the secret): the user, or null. */
  authenticate(session: Session, user: string, password: string): AuthUser | null;
  /** The configured users' names (ACL USERS). */
  userNames(): string[];
  /** A command refused for the session's user: logged (rate-limited) and counted. */
  denied(session: Session, command: string, reason: DenyReason): void;
}

/** The memory limit as the commands see it (src/memory.ts implements it). */
export interface MemoryGuard {
  /** Null when a write that grows the data may go ahead, else the OOM error that refuses it. */
  writeRefusal(): KvError | null;
}

/**
 * The stream connections (TCP, HTTP) as CLIENT LIST, CLIENT KILL and MONITOR see them:
 * the front-end adds a session when its client connects and removes it when it goes.
 * UDP peers are not in it, as Redis has no datagram clients.
 */
export interface ClientRegistry {
  /** An id no other client of this server has had (CLIENT ID, CLIENT KILL ID). */
  nextId(): number;
  add(session: Session): void;
  remove(session: Session): void;
  /** Every connected stream session, in the order they connected. */
  sessions(): Iterable<Session>;
  byId(id: number): Session | undefined;
}

/** Where MONITOR's watchers are kept: `active` is the one check every command pays when nobody watches. */
export interface MonitorFeed {
  readonly active: boolean;
  add(watcher: Session): void;
  remove(watcher: Session): void;
  /** After a command ran: one line to every watcher (src/commands/monitor.ts). */
  feed(session: Session, args: readonly ByteString[]): void;
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
  /** Users and permissions; absent in a bare context, where every session's user is what it was given. */
  readonly access?: AccessControl;
  /** Protected mode (src/auth/protected-mode.ts): whether a client address is refused; absent: nobody is. */
  readonly protectedMode?: { refuses(address: string | undefined): boolean };
  /** The stream clients (CLIENT LIST, KILL); absent in a bare context (tests of the table alone). */
  readonly clients?: ClientRegistry;
  /** MONITOR's watchers; absent in a bare context. */
  readonly monitors?: MonitorFeed;
  /** SHUTDOWN: stops the server as SIGTERM does (but for NOSAVE's and SAVE's final snapshot); absent where the host stops it (an embedded server, tests). */
  requestShutdown?: (reason: string, options: StopOptions) => void;
}

/** CLIENT REPLY: `skip` silences the next command's reply only. */
export type ReplyMode = 'on' | 'off' | 'skip';

/**
 * What a stream front-end tells about one connection, beyond the Session (CLIENT LIST's
 * fields, CLIENT KILL, MONITOR). Times are performance.now() milliseconds.
 */
export interface ClientConnection {
  /** `address:port` of our end (CLIENT LIST's laddr). */
  readonly localAddress: string;
  /** The socket's file descriptor, or -1 when the runtime does not say. */
  readonly fd: number;
  readonly createdAt: number;
  /** When the client last sent a command; executeCommand keeps it. */
  lastActiveAt: number;
  /** The full name of the last command (`client|list`), or `NULL` before the first, as Redis shows it. */
  lastCommand: string;
  /** Bytes of unfinished and waiting requests (qbuf). */
  readonly queryBytes: number;
  /** Reply bytes owed and not yet taken by the kernel (omem). */
  readonly outputBytes: number;
  /** The size of the buffer replies are encoded into (rbs). */
  readonly replyBufferBytes: number;
  /** CLIENT NO-EVICT: --maxmemory-clients never picks this client. */
  noEvict: boolean;
  /** CLIENT SETINFO (Redis 7.2): what the client library says it is; '' when unset. */
  libName: string;
  libVer: string;
  /** Closes the connection now, dropping what it is owed (CLIENT KILL from another client). */
  kill(): void;
  /** Writes a reply nobody asked for (a MONITOR line) after everything the client is owed. */
  push(reply: Reply): void;
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
  /** Who the session is authenticated as; null: nobody yet (only AUTH, HELLO, PING, QUIT and RESET run). */
  user: AuthUser | null;
  /** MULTI: the commands queued for EXEC; null outside a transaction. */
  multi: QueuedTransaction | null;
  /** WATCH: each watched key and its version when it was watched (0: absent); null when none. */
  watched: Map<ByteString, number> | null;
  /** The RESP version HELLO chose (2 until then); a stream front-end encodes its replies by it. */
  protocol?: 2 | 3;
  /** CLIENT REPLY; the stream front-end honours it (absent: `on`). */
  replyMode?: ReplyMode;
  /** Set by MONITOR: this session now only receives the lines of other clients' commands. */
  monitoring?: boolean;
  /** What a stream front-end tells about the connection; absent for datagram peers. */
  readonly conn?: ClientConnection;
}

/** A transaction being queued (MULTI … EXEC). */
export interface QueuedTransaction {
  readonly commands: Array<{ readonly spec: CommandSpec; readonly args: ByteString[] }>;
  /** Bytes of the queued arguments (what the client's memory counts). */
  bytes: number;
  /** A command was refused while queueing: EXEC refuses the whole transaction (EXECABORT). */
  failed: boolean;
  /** The key group (Redis Cluster's hash slot) of the keys queued so far, with a backend that has groups; absent before the first key. */
  group?: number;
}

/** Redis's command flags, as COMMAND INFO names them (in the order Redis lists them). */
export const COMMAND_FLAGS = [
  'write',
  'readonly',
  'denyoom',
  'module',
  'admin',
  'pubsub',
  'noscript',
  'blocking',
  'loading',
  'stale',
  'skip_monitor',
  'skip_slowlog',
  'asking',
  'fast',
  'no_auth',
  'no_mandatory_keys',
  'no_async_loading',
  'no_multi',
  'movablekeys',
  'allow_busy',
] as const;
export type CommandFlag = (typeof COMMAND_FLAGS)[number];

/** Redis's ACL categories, in the order COMMAND INFO lists them. */
export const ACL_CATEGORIES = [
  'keyspace',
  'read',
  'write',
  'set',
  'sortedset',
  'list',
  'hash',
  'string',
  'bitmap',
  'hyperloglog',
  'geo',
  'stream',
  'pubsub',
  'admin',
  'fast',
  'slow',
  'blocking',
  'dangerous',
  'connection',
  'transaction',
  'scripting',
] as const;
export type AclCategory = (typeof ACL_CATEGORIES)[number];

/** Redis's key-spec flags (COMMAND INFO's key specifications), in Redis's order. */
export const KEY_SPEC_FLAGS = ['RO', 'RW', 'OW', 'RM', 'access', 'update', 'insert', 'delete', 'not_key', 'incomplete', 'variable_flags'] as const;
export type KeySpecFlag = (typeof KEY_SPEC_FLAGS)[number];

/** COMMAND DOCS' text about a command. */
export interface CommandDocs {
  readonly summary: string;
  /** The Redis version that added it, or dualkv's for a command of its own. */
  readonly since: string;
  /** Redis's doc group: `generic`, `string`, `server`, `connection`, … */
  readonly group: string;
  readonly complexity?: string;
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
  /** The usage in the text dialect, where it differs (a value that is the rest of the line: docs/PROTOCOL.md §1.2). */
  readonly textUsage?: string;
  /** A one-line usage for error messages and HELP; COMMAND DOCS derives the arguments from it. */
  readonly usage: string;
  /**
   * Redis's flags beyond those derived from the fields above (`write` or, for keyspace
   * commands, `readonly`; `denyoom`), e.g. `fast`, `admin`, `loading`, `stale`.
   */
  readonly flags?: readonly CommandFlag[];
  /** ACL categories beyond those Redis derives from the flags (@write, @read, @fast or @slow, @admin and @dangerous). */
  readonly acl?: readonly AclCategory[];
  /** Key specs, where the keys do not all play the same part (RENAME); else one, from firstKey, lastKey, keyStep and keyFlags. */
  readonly keySpecs?: ReadonlyArray<{ readonly flags: readonly KeySpecFlag[]; readonly index: number; readonly lastkey: number; readonly step: number }>;
  /** A refusal before it runs (arity) is answered as EXECABORT and ends the transaction, as Redis's rejectCommand does for EXEC. */
  readonly abortsTransaction?: boolean;
  /** Flags of the key arguments' key spec; derived from `write` when absent (RO and access, or RW and update). */
  readonly keyFlags?: readonly KeySpecFlag[];
  /** Redis's command tips, e.g. `nondeterministic_output`. */
  readonly tips?: readonly string[];
  /** COMMAND DOCS' summary, since, group and complexity; derived from the usage and group when absent. */
  readonly docs?: CommandDocs;
  /**
   * A container command's subcommands (CLIENT LIST is `client|list`): each a spec of its own,
   * named `container|sub`, whose arity counts the container's name too.
   */
  readonly subcommands?: readonly CommandSpec[];
  /** MONITOR shows these arguments instead (HELLO's AUTH password is `(redacted)`). */
  readonly redact?: (args: readonly ByteString[]) => ByteString[];
  readonly run: (ctx: CommandContext, session: Session, args: ByteString[]) => Reply | Promise<Reply>;
}
