/**
 * Dialects are an open set: each front-end's codec is one, and says which groups of
 * commands it offers. A new front-end (HTTP, say) defines its own Dialect next to its
 * codec; nothing here needs to change. A command belongs to one group.
 */
export type CommandGroup =
  /** The keys: GET, SET, DEL, EXPIRE, CAS, … */
  | 'keyspace'
  /** About the server, on every dialect: PING, ECHO, STATS, SAVE. */
  | 'server'
  /** INFO with Redis's sections. */
  | 'info'
  /** Ending a stream connection: QUIT. */
  | 'connection'
  /** The text dialect's HELP. */
  | 'help'
  /** MULTI, EXEC, DISCARD, WATCH, UNWATCH: on stream connections, whose commands a session queues. */
  | 'transaction'
  /** What Redis clients send on connecting: SELECT, CLIENT, COMMAND, CONFIG. */
  | 'redis';

export interface Dialect {
  /** For logs and op lines: `text`, `resp`, `udp`, … */
  readonly name: string;
  readonly groups: ReadonlySet<CommandGroup>;
}

/** The human text dialect (docs/PROTOCOL.md §1). */
export const TEXT: Dialect = { name: 'text', groups: new Set(['keyspace', 'server', 'connection', 'transaction', 'help']) };
/** RESP2, for Redis clients (§2). */
export const RESP: Dialect = { name: 'resp', groups: new Set(['keyspace', 'server', 'info', 'connection', 'transaction', 'redis']) };
/** UDP datagrams (the udp section). */
export const UDP: Dialect = { name: 'udp', groups: new Set(['keyspace', 'server', 'info']) };
