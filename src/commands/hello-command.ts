import { KvError } from '../errors.js';
import { errorReply, OK, type Reply } from '../protocol/reply.js';
import { REDIS_VERSION } from '../stats.js';
import type { ByteString } from '../store/bytes.js';
import { BAD_NAME, validAttr } from './client-commands.js';
import type { CommandContext, CommandSpec, Session } from './types.js';

/** HELLO and AUTH, as Redis 7.0 answers them (networking.c helloCommand, acl.c authCommand). */

const bulk = (v: string): Reply => ({ t: 'bulk', v });
const int = (n: number): Reply => ({ t: 'int', n });
const syntaxError = (): Reply => errorReply(new KvError('SYNTAX', 'syntax error'));
const err = (message: string): Reply => errorReply(new KvError('SYNTAX', message));

/** HELLO's and AUTH's arguments after AUTH, as MONITOR shows them. */
function redactAfterAuth(args: readonly ByteString[]): ByteString[] {
  const out = [...args];
  for (let i = 1; i < out.length; i++) {
    if ((out[i] as string).toLowerCase() === 'auth' && i + 2 < out.length) {
      out[i + 1] = '(redacted)';
      out[i + 2] = '(redacted)';
      i += 2;
    }
  }
  return out;
}

const wrongPass = (): Reply => errorReply(new KvError('WRONG_PASS', 'invalid username-password pair or user is disabled.'));

/**
 * Checks a user's password and, when it is right, makes the session that user. With no
 * users configured Redis's `default` user has no password: it accepts any password, and
 * any other user name is wrong.
 */
function authenticate(c: CommandContext, s: Session, user: string, password: string): Reply | null {
  if (c.access === undefined || !c.access.required) return user === 'default' ? null : wrongPass();
  const who = c.access.authenticate(s, user, password);
  if (who === null) return wrongPass();
  s.user = who;
  return null;
}

export const helloCommand: CommandSpec = {
  name: 'hello',
  arity: -1,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'redis',
  usage: 'HELLO [protover [AUTH username password] [SETNAME clientname]]',
  flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
  acl: ['connection'],
  docs: { summary: 'Handshake with Redis', since: '6.0.0', group: 'connection', complexity: 'O(1)' },
  redact: redactAfterAuth,
  run(c, s, args) {
    let next = 1;
    let protocol = s.protocol ?? 2;
    if (args.length >= 2) {
      const v = args[next++] as string;
      if (!/^-?\d{1,19}$/.test(v)) return err('Protocol version is not an integer or out of range');
      if (Number(v) !== 2 && Number(v) !== 3) return errorReply(new KvError('NO_PROTO', 'unsupported protocol version'));
      protocol = Number(v) as 2 | 3;
    }
    let name: string | undefined;
    let auth: [string, string] | null = null;
    for (let j = next; j < args.length; j++) {
      const opt = args[j] as string;
      const more = args.length - 1 - j;
      if (opt.toLowerCase() === 'auth' && more >= 2) {
        auth = [args[j + 1] as string, args[j + 2] as string];
        j += 2;
      } else if (opt.toLowerCase() === 'setname' && more >= 1) {
        name = args[++j] as string;
        if (name !== '' && !validAttr(name)) return err(BAD_NAME);
      } else {
        return err(`Syntax error in HELLO option '${opt}'`);
      }
    }
    // Redis (helloCommand): options are read first, then AUTH, then the rest applies.
    if (auth !== null) {
      const wrong = authenticate(c, s, auth[0], auth[1]);
      if (wrong) return wrong;
    } else if (s.user === null) {
      return errorReply(
        new KvError('NO_AUTH', 'HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time'),
      );
    }
    if (name !== undefined) s.name = name;
    // Only a connection that can switch does (a stream one; UDP has no HELLO), and this reply already goes in the new version.
    s.protocol = protocol;
    return {
      t: 'map',
      entries: [
        [bulk('server'), bulk('redis')],
        [bulk('version'), bulk(REDIS_VERSION)],
        [bulk('proto'), int(protocol)],
        [bulk('id'), int(s.id)],
        [bulk('mode'), bulk('standalone')],
        [bulk('role'), bulk('master')],
        [bulk('modules'), { t: 'array', items: [] }],
      ],
    };
  },
};

export const authCommand: CommandSpec = {
  name: 'auth',
  arity: -2,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'connection',
  usage: 'AUTH [username] password',
  flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
  acl: ['connection'],
  docs: { summary: 'Authenticate to the server', since: '1.0.0', group: 'connection', complexity: 'O(N) where N is the number of passwords defined for the user' },
  redact: (args) => args.map((a, i) => (i === 0 ? a : '(redacted)')),
  run(c, s, args) {
    if (args.length > 3) return syntaxError();
    if (args.length === 2) {
      if (c.access === undefined || !c.access.required) {
        return err('AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
      }
      return authenticate(c, s, 'default', args[1] as string) ?? OK;
    }
    return authenticate(c, s, args[1] as string, args[2] as string) ?? OK;
  },
};
