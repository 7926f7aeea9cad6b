import { KvError } from '../errors.js';
import { rejectReply, type Reply } from '../protocol/reply.js';
import { commandFlags } from './command-info.js';
import type { AuthUser, CommandContext, CommandSpec, Session } from './types.js';

/**
 * Who may run what (README "Authentication"): before AUTH only the handshake commands;
 * after it, by the user's permission. Checked after the arity, as Redis checks
 * (processCommand: unknown command, arity, then NOAUTH, then NOPERM).
 */

/** The user of a session in a context with no access control (tests of the table alone): every permission. */
export const UNRESTRICTED: AuthUser = { name: 'default', permission: 'admin' };

/** What a command needs: `admin` for Redis's admin commands and the two that empty the store, `readwrite` for a write. */
type Need = 'read' | 'readwrite' | 'admin';
const NEEDS = new WeakMap<CommandSpec, Need>();

/** The commands the issue names for admin beyond Redis's admin flag: they empty the whole store. */
const ADMIN_WRITES = new Set(['flushall', 'flushdb']);

function needOf(spec: CommandSpec): Need {
  let need = NEEDS.get(spec);
  if (need === undefined) {
    need = commandFlags(spec).includes('admin') || ADMIN_WRITES.has(spec.name) ? 'admin' : spec.write ? 'readwrite' : 'read';
    NEEDS.set(spec, need);
  }
  return need;
}

/** Before authenticating: the handshake, and PING for health checks (HAProxy's redis-check, a load balancer's probe). */
function runsUnauthenticated(spec: CommandSpec): boolean {
  return spec.name === 'ping' || spec.flags?.includes('no_auth') === true;
}

/** The session's starting user: AccessControl's, or UNRESTRICTED in a bare context. */
export function initialUser(ctx: CommandContext): AuthUser | null {
  return ctx.access === undefined ? UNRESTRICTED : ctx.access.initialUser();
}

/** Null when the session's user may run `spec`; else the refusal (NOAUTH or NOPERM), logged and counted. */
export function accessRefusal(ctx: CommandContext, session: Session, spec: CommandSpec): Reply | null {
  const user = session.user;
  if (user !== null && user.permission === 'admin') return null;
  if (user === null) {
    if (runsUnauthenticated(spec)) return null;
    ctx.access?.denied(session, spec.name, 'noauth');
    return rejectReply(new KvError('NO_AUTH', 'Authentication required.'));
  }
  const need = needOf(spec);
  if (need === 'read' || (need === 'readwrite' && user.permission === 'readwrite')) return null;
  ctx.access?.denied(session, spec.name, 'noperm');
  return rejectReply(
    new KvError('NO_PERM', `this user has no permissions to run the '${spec.name}' command`, {
      textMessage: `user ${user.name} (${user.permission}) may not run ${spec.name.toUpperCase()}: it needs ${need}`,
    }),
  );
}
