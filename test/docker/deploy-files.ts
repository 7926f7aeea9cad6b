import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { serverArgs } from '../../src/server-flags.js';

/** The repository's root: every path in a compose file or manifest is checked against it. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DOCKER_DIR = path.join(ROOT, 'docker');
export const KUBERNETES_DIR = path.join(DOCKER_DIR, 'deploy', 'kubernetes');

/** Every compose file: the demo and the gateway stacks. */
export const COMPOSE_FILES = ['docker-compose.yml', 'docker/compose-etcd.yml', 'docker/compose-redis-cluster.yml'] as const;

export type Yaml = Record<string, unknown>;

/**
 * Every document of a YAML file, as plain objects. Merge keys (`<<: *anchor`) are on: the compose
 * files use them, and docker-compose 1.29 (PyYAML) and v2 both read them.
 */
export function parseYaml(text: string, source: string): Yaml[] {
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs)) throw new Error(`${source}: not YAML documents`);
  return docs.map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source} (document ${i + 1}): ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS({ maxAliasCount: 1000 }) as Yaml;
  }).filter((d) => d !== null);
}

export function readYaml(relative: string): Yaml[] {
  return parseYaml(readFileSync(path.join(ROOT, relative), 'utf8'), relative);
}

/**
 * Compose's interpolation with no variable set: `${VAR:-default}` and `${VAR-default}` become the
 * default, `${VAR}` and `$VAR` nothing, and `$$` a literal `$`.
 */
export function interpolate<T>(v: T): T {
  if (typeof v === 'string') {
    return v.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (m, _name, def: string | undefined) => (m === '$$' ? '$' : (def ?? ''))) as T;
  }
  if (Array.isArray(v)) return v.map((x: unknown) => interpolate(x)) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x)])) as T;
  return v;
}

/** The one document of a compose file, interpolated as compose would with no variable set. */
export function readCompose(relative: string): Yaml {
  const docs = readYaml(relative);
  if (docs.length !== 1 || docs[0] === undefined) throw new Error(`${relative}: a compose file has one document; found ${docs.length}`);
  return interpolate(docs[0]);
}

/** The folders under docker/deploy/kubernetes/ that hold a kustomization.yaml. */
export function kustomizeDirs(): string[] {
  return readdirSync(KUBERNETES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join('docker', 'deploy', 'kubernetes', e.name))
    .filter((dir) => readdirSync(path.join(ROOT, dir)).includes('kustomization.yaml'))
    .sort();
}

/** The YAML files of a folder, relative to the root (a secrets/ folder, made by a script and never committed, is not one). */
export function yamlFilesIn(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export const asObject = (v: unknown): Yaml => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Yaml) : {});
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const asStrings = (v: unknown): string[] => asArray(v).map((x) => String(x));

interface YargsOptions {
  key: Record<string, unknown>;
  boolean: string[];
  alias: Record<string, string[]>;
}

/**
 * kv-server's flags, as its yargs options declare them (src/config.ts, src/backend/backend-config.ts):
 * each name, its aliases, and `no-<name>` for a boolean. yargs' typings leave getOptions() out.
 */
export function serverFlagNames(): Set<string> {
  const options = (serverArgs([]) as unknown as { getOptions(): YargsOptions }).getOptions();
  const names = new Set<string>([...Object.keys(options.key), ...Object.values(options.alias).flat()]);
  for (const b of options.boolean) names.add(`no-${b}`);
  return names;
}

/** The `--name` of each flag in a command line (`--name=value` or `--name value`). */
export function flagNames(args: readonly string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0] ?? '');
}

/**
 * The flags of a kv-server command line that are not kv-server's; then the whole line through
 * kv-server's own strict parser, which also refuses a value outside a flag's choices.
 */
export function checkServerArgs(args: readonly string[], known = serverFlagNames()): string[] {
  const unknown = flagNames(args).filter((n) => !known.has(n)).map((n) => `--${n} is not a kv-server flag`);
  if (unknown.length > 0) return unknown;
  try {
    serverArgs([...args]).parse();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** The value of `--name=value` or `--name value` in a command line; undefined when absent. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}
