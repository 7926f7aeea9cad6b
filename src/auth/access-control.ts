import type { Logger } from 'pino';
import type { AccessControl, AuthUser, DenyReason, Session } from '../commands/types.js';
import { RejectLogLimiter } from '../log-limiter.js';
import type { ServerStats } from '../stats.js';
import { matches, secretOf, type StoredSecret } from './secrets.js';
import { loadUsersFile, type UdpKey, type UserEntry } from './users-file.js';

/** Where the users come from: a users file, or one password for the `default` user (--requirepass); neither: no authentication. */
export interface CredentialSource {
  readonly usersFile: string | null;
  readonly requirepass: string | null;
}

/** The user every session is with no credentials configured, as Redis's `default` user with no password. */
const OPEN_DEFAULT: AuthUser = { name: 'default', permission: 'admin' };

/** Warn lines about failed authentications and denied commands, at most this many a second each (a brute-force run must not flood the log). */
const AUDIT_WARN_PER_SECOND = 10;

/** A user name as the audit log shows it: never more than 64 characters, and only the name's own (a password typed as the user stays out). */
function shownName(name: string): string {
  return /^[A-Za-z0-9._@-]{1,64}$/.test(name) ? name : '(not a valid user name)';
}

/**
 * The server's users (README "Authentication"), checked in constant time, with an
 * audit log line and a counter for every attempt and every denied command. Secrets
 * are held only as salted hashes and never logged, shown or echoed.
 */
export class Credentials implements AccessControl {
  private users = new Map<string, UserEntry & AuthUser>();
  private byKeyId = new Map<number, { user: AuthUser; key: UdpKey }>();
  /** Checked against when the user does not exist, so a wrong name costs what a wrong password does. */
  private readonly decoy: StoredSecret = secretOf('decoy');
  private readonly failLog = new RejectLogLimiter(AUDIT_WARN_PER_SECOND);
  private readonly deniedLog = new RejectLogLimiter(AUDIT_WARN_PER_SECOND);

  constructor(
    private readonly source: CredentialSource,
    private readonly stats: ServerStats,
    private readonly log: Logger,
  ) {}

  /** Reads the users (at start, before the listeners open): a users file that cannot be used stops the start. */
  start(): void {
    this.load();
  }

  get required(): boolean {
    return this.users.size > 0;
  }

  /** Reads the users again (SIGHUP). A file that no longer parses keeps the users there were, and says why. */
  reload(): { ok: boolean; users: number; error?: string } {
    try {
      this.load();
      this.log.info({ users: this.users.size, file: this.source.usersFile }, 'users reloaded');
      return { ok: true, users: this.users.size };
    } catch (err) {
      const error = (err as Error).message;
      this.log.error({ file: this.source.usersFile, error }, 'users file not reloaded: the users loaded before stay in force');
      return { ok: false, users: this.users.size, error };
    }
  }

  private load(): void {
    let entries: UserEntry[] = [];
    if (this.source.usersFile !== null) {
      const { users, warning } = loadUsersFile(this.source.usersFile);
      if (warning !== null) this.log.warn({ file: this.source.usersFile }, warning);
      entries = users;
    } else if (this.source.requirepass !== null) {
      entries = [{ name: 'default', permission: 'admin', secret: secretOf(this.source.requirepass), udpKeys: [] }];
    }
    const users = new Map<string, UserEntry & AuthUser>();
    const byKeyId = new Map<number, { user: AuthUser; key: UdpKey }>();
    for (const e of entries) {
      users.set(e.name, e);
      for (const key of e.udpKeys) byKeyId.set(key.id, { user: e, key });
    }
    this.users = users;
    this.byKeyId = byKeyId;
  }

  initialUser(): AuthUser | null {
    return this.required ? null : OPEN_DEFAULT;
  }

  authenticate(session: Session, name: string, password: string): AuthUser | null {
    const entry = this.users.get(name);
    // One hash either way: the time does not tell whether the name exists.
    const ok = matches(entry?.secret ?? this.decoy, password) && entry !== undefined;
    this.stats.countAuth(session.transport, ok);
    const fields = { user: shownName(name), client: session.client, transport: session.transport };
    if (ok) {
      this.log.info(fields, 'authenticated');
      return { name: entry.name, permission: entry.permission };
    }
    const suppressed = this.failLog.admit();
    if (suppressed !== null) this.log.warn({ ...fields, suppressed: suppressed || undefined }, 'authentication failed');
    return null;
  }

  /** The user of this name as configured now (after a reload), or null when there is none. */
  lookup(name: string): AuthUser | null {
    const e = this.users.get(name);
    return e === undefined ? null : { name: e.name, permission: e.permission };
  }

  userNames(): string[] {
    return [...this.users.keys()];
  }

  denied(session: Session, command: string, reason: DenyReason): void {
    this.stats.countDenied(session.transport, reason);
    const suppressed = this.deniedLog.admit();
    if (suppressed !== null) {
      this.log.warn({ user: session.user?.name ?? null, client: session.client, transport: session.transport, command, reason, suppressed: suppressed || undefined }, 'command denied');
    }
  }

  /** A UDP key by its id (docs/PROTOCOL.md "Authenticated datagrams"), with the user it belongs to. */
  udpKey(id: number): { user: AuthUser; key: UdpKey } | undefined {
    return this.byKeyId.get(id);
  }
}
