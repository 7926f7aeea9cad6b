import { renderInfo, selectInfo } from '../protocol/info-text.js';
import { DEFAULT_INFO_SECTIONS, INFO_SECTIONS } from '../info-sections.js';
import type { CommandSpec } from './types.js';

const REDIS_SECTIONS: ReadonlySet<string> = new Set(INFO_SECTIONS);

/**
 * INFO [section ...], as Redis 7.0 selects: none or `default` is every section but
 * commandstats, `all` and `everything` are all of them, names are case-insensitive and
 * a name that is no section adds nothing. dualkv's own sections (udp, logging) come
 * with the defaults.
 */
export const infoCommand: CommandSpec = {
  name: 'info',
  arity: -1,
  write: false,
  firstKey: 0,
  lastKey: 0,
  group: 'info',
  usage: 'INFO [section [section ...]]',
  flags: ['loading', 'stale'],
  acl: ['dangerous'],
  tips: ['nondeterministic_output', 'request_policy:all_shards', 'response_policy:special'],
  docs: { summary: 'Get information and statistics about the server', since: '1.0.0', group: 'server', complexity: 'O(1)' },
  run(ctx, _s, args) {
    const sections = ctx.info();
    const own = Object.keys(sections).filter((s) => !REDIS_SECTIONS.has(s));
    return { t: 'bulk', v: renderInfo(sections, selectInfo(args.slice(1), DEFAULT_INFO_SECTIONS, own)), verbatim: true };
  },
};
