import type { CommandSpec } from './types.js';

/** What a container command's subcommand (CLIENT LIST, CONFIG GET, COMMAND INFO) says of itself; the rest is the same for all. */
export type SubcommandFields = Pick<CommandSpec, 'arity' | 'usage' | 'run'> & Partial<Pick<CommandSpec, 'flags' | 'acl' | 'docs' | 'tips' | 'redact'>>;

/** A subcommand's spec, named `container|name` as Redis names it: no keys, no write, RESP only. */
export function subcommand(container: string, name: string, fields: SubcommandFields): CommandSpec {
  return { name: `${container}|${name}`, write: false, firstKey: 0, lastKey: 0, group: 'redis', ...fields };
}
