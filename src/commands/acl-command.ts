import { KvError } from '../errors.js';
import { errorReply, type Reply } from '../protocol/reply.js';
import { helpReply } from './command-command.js';
import { subcommand } from './subcommand.js';
import type { CommandSpec } from './types.js';

/**
 * ACL WHOAMI and ACL USERS, as Redis 7.0 answers them; users are defined by the users
 * file (README "Authentication"), not by ACL SETUSER, so the other subcommands are absent.
 */

const FLAGS = ['noscript', 'loading', 'stale'] as const;

const ACL_HELP = ['WHOAMI', '    Return the current connection username.', 'USERS', '    List all the registered usernames.'];

export const aclCommand: CommandSpec = {
  name: 'acl',
  arity: -2,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'redis',
  usage: 'ACL WHOAMI | USERS | HELP',
  docs: { summary: 'A container for Access List Control commands', since: '6.0.0', group: 'server', complexity: 'Depends on subcommand.' },
  run: () => errorReply(new KvError('SYNTAX', 'syntax error')),
  subcommands: [
    subcommand('acl', 'whoami', {
      arity: 2,
      usage: 'ACL WHOAMI',
      flags: [...FLAGS],
      docs: { summary: 'Return the name of the user associated to the current connection', since: '6.0.0', group: 'server', complexity: 'O(1)' },
      run: (_c, s): Reply => ({ t: 'bulk', v: s.user?.name ?? 'default' }),
    }),
    subcommand('acl', 'users', {
      arity: 2,
      usage: 'ACL USERS',
      flags: ['admin', ...FLAGS],
      docs: { summary: 'List the username of all the configured ACL rules', since: '6.0.0', group: 'server', complexity: 'O(N). Where N is the number of configured users.' },
      run: (c): Reply => ({ t: 'array', items: (c.access?.userNames() ?? []).concat(c.access?.required === true ? [] : ['default']).map((v) => ({ t: 'bulk', v })) }),
    }),
    subcommand('acl', 'help', {
      arity: 2,
      usage: 'ACL HELP',
      flags: ['loading', 'stale'],
      docs: { summary: 'Show helpful text about the different subcommands', since: '6.0.0', group: 'server', complexity: 'O(1)' },
      run: () => helpReply('ACL', ACL_HELP),
    }),
  ],
};
