import { isKvError, KvError } from '../../src/errors.js';
import { lookupCommand } from '../../src/commands/table.js';
import { formatAddress, type ServerAddress } from './server-list.js';
import type { TcpClient } from './tcp-client.js';

/**
 * Commands that are read-only in the server's command table and yet must not be
 * resent on another connection: their meaning is the connection's own state (a
 * transaction, a selected database, a subscription, the user), which a new
 * connection does not have.
 */
const CONNECTION_STATE = new Set(['multi', 'exec', 'discard', 'watch', 'unwatch', 'reset', 'select', 'client', 'hello', 'auth', 'quit', 'monitor', 'changes']);

/**
 * README "kv-tcp" (several servers): a command may be sent again to another server
 * after its connection was lost only when sending it twice cannot change anything.
 * The server's command table says which commands write (`write`); of the rest, the
 * admin ones (SHUTDOWN, SAVE, CONFIG, ACL) and the connection-state ones are not
 * resent either. A SCAN with a cursor other than 0 is not resent: the cursor
 * belongs to the gateway that gave it (README "Guarantees by backend").
 */
export function isSafeToResend(args: readonly Buffer[]): boolean {
  const name = (args[0] as Buffer | undefined)?.toString('latin1').toLowerCase() ?? '';
  const spec = lookupCommand(name);
  if (spec === undefined || spec.write || CONNECTION_STATE.has(spec.name)) return false;
  if (spec.flags?.includes('admin') || spec.name === 'shutdown') return false;
  if (spec.name === 'scan') return args[1]?.toString('latin1') === '0';
  return true;
}

export interface FailoverEvents {
  /** A server could not be reached, or lost the connection, and the next is tried. */
  readonly onFailover?: (message: string) => void;
}

const lost = (err: unknown): err is KvError => isKvError(err) && (err.code === 'CONNECTION' || err.code === 'TIMEOUT');

/**
 * kv-tcp's connection to one of several servers, in order (README "kv-tcp", several
 * servers). It connects to the first server that answers; a server that refuses or
 * does not answer in time is passed over for the next. When a connection is lost
 * (or a reply is overdue) after a command was sent, the command goes to the next
 * server only if it is safe to resend (isSafeToResend); a write is reported as
 * IN_DOUBT instead, since it may have been applied before the connection went.
 * Every server is tried at most once per command.
 */
export class FailoverSession {
  private client: TcpClient | null = null;
  /** The server in use, or the one to try first. */
  private current = 0;
  /** Inside MULTI: the queued commands live on this connection only. */
  private inTransaction = false;

  constructor(
    readonly servers: readonly ServerAddress[],
    private readonly connectTo: (server: ServerAddress) => Promise<TcpClient>,
    private readonly events: FailoverEvents = {},
  ) {
    if (servers.length === 0) throw new RangeError('FailoverSession needs at least one server');
  }

  /** The server in use (or next to be tried), as host:port. */
  get address(): string {
    return formatAddress(this.servers[this.current] as ServerAddress);
  }

  /** Connects now (the prompt does, so that a session with no server fails at once). */
  async open(): Promise<void> {
    await this.connected(new Set());
  }

  /** Runs `action` for the command `args` on a live connection, failing over as the class says. */
  async run<T>(args: readonly Buffer[], action: (client: TcpClient) => Promise<T>): Promise<T> {
    const name = (args[0] as Buffer).toString('latin1').toUpperCase();
    const tried = new Set<number>();
    for (;;) {
      const client = await this.connected(tried);
      tried.add(this.current);
      const safe = !this.inTransaction && isSafeToResend(args);
      try {
        const result = await action(client);
        this.track(name, true);
        return result;
      } catch (err) {
        if (!lost(err)) {
          this.track(name, false);
          throw err;
        }
        const from = this.address;
        this.drop();
        const wasTransaction = this.inTransaction;
        this.inTransaction = false;
        if (wasTransaction && name !== 'EXEC') {
          throw new KvError('CONNECTION', `${err.message}; the transaction (MULTI) was discarded with the connection, and nothing queued in it was applied`, { cause: err });
        }
        if (!safe) {
          throw new KvError(
            'IN_DOUBT',
            `${name} was sent to ${from}, then ${err.code === 'TIMEOUT' ? 'no reply came in time' : 'the connection was lost'} (${err.message}): ` +
              'it may or may not have been applied, so it was not sent again; read the key to see which',
            { cause: err },
          );
        }
        if (tried.size >= this.servers.length) throw err;
        this.current = (this.current + 1) % this.servers.length;
        this.events.onFailover?.(`${from}: ${err.message}; sending ${name} again to ${this.address} (it only reads)`);
      }
    }
  }

  /** Closes the connection, if any: cleanly when every reply is in, else at once. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c === null) return;
    if (c.inFlight > 0) c.destroy();
    await c.close().catch(() => undefined);
  }

  /** MULTI opens a transaction; EXEC, DISCARD and RESET end it, whether they succeed or not. */
  private track(name: string, ok: boolean): void {
    if (name === 'MULTI' && ok) this.inTransaction = true;
    else if (name === 'EXEC' || name === 'DISCARD' || name === 'RESET') this.inTransaction = false;
  }

  private drop(): void {
    this.client?.destroy();
    this.client = null;
  }

  /** The live connection, or a new one to the first server from `current` on, in order, not yet tried for this command. */
  private async connected(tried: ReadonlySet<number>): Promise<TcpClient> {
    if (this.client !== null && !this.client.closed) return this.client;
    if (this.client !== null) {
      // Closed while idle (the server went away between commands): nothing of ours was lost with it.
      this.client = null;
      this.inTransaction = false;
    }
    const n = this.servers.length;
    const failures: KvError[] = [];
    for (let k = 0; k < n; k++) {
      const i = (this.current + k) % n;
      if (tried.has(i)) continue;
      const server = this.servers[i] as ServerAddress;
      try {
        this.client = await this.connectTo(server);
        this.current = i;
        return this.client;
      } catch (err) {
        if (!lost(err)) throw err;
        failures.push(err);
        if (k < n - 1 && failures.length + tried.size < n) this.events.onFailover?.(`${err.message}; trying the next server`);
      }
    }
    const only = failures[0];
    if (failures.length === 1 && only !== undefined && n === 1) throw only;
    throw new KvError(
      failures.every((f) => f.code === 'TIMEOUT') ? 'TIMEOUT' : 'CONNECTION',
      `none of the ${n} servers could be reached: ${failures.map((f) => f.message).join('; ')}`,
      { cause: failures[0] },
    );
  }
}
