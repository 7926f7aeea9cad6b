import type http from 'node:http';
import { initialUser } from '../../commands/access.js';
import type { CommandContext } from '../../commands/types.js';
import { KvError } from '../../errors.js';
import type { HttpConnection } from './http-connection.js';

/**
 * docs/HTTP.md §9: `Authorization: Bearer <user>:<password>` (or `Bearer <password>` for
 * the `default` user), checked once per connection and token. Each request says who it
 * is; a connection remembers the last token that was right, so a keep-alive client pays
 * for one hash, and the audit log has one line, per connection rather than per request.
 */

/** What a refused request's answer carries, as RFC 6750 §3 asks. */
export const WWW_AUTHENTICATE = 'Bearer realm="dualkv"';

/** The token's user and password: `user:password`, or a bare password for `default`. */
function credentialsOf(token: string): [string, string] {
  const colon = token.indexOf(':');
  return colon < 0 ? ['default', token] : [token.slice(0, colon), token.slice(colon + 1)];
}

/** Sets the request's user on its connection's session; the refusal when the request may not go on. */
export function authorize(ctx: CommandContext, conn: HttpConnection, req: http.IncomingMessage): KvError | null {
  const session = conn.session;
  if (ctx.access === undefined || !ctx.access.required) {
    session.user = initialUser(ctx);
    return null;
  }
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer +(\S.*)$/i.exec(header);
  if (m === null) {
    session.user = null;
    conn.knownToken = null;
    return new KvError('NO_AUTH', header === undefined ? 'Authentication required: send Authorization: Bearer <user>:<password> (docs/HTTP.md §9)' : 'the Authorization header must be Bearer <user>:<password> (docs/HTTP.md §9)');
  }
  const token = (m[1] as string).trim();
  if (conn.knownToken !== null && conn.knownToken === token && session.user !== null) return null;
  const [user, password] = credentialsOf(token);
  const who = ctx.access.authenticate(session, user, password);
  session.user = who;
  conn.knownToken = who === null ? null : token;
  return who === null ? new KvError('WRONG_PASS', 'invalid username-password pair or user is disabled.') : null;
}
