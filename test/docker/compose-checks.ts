import { existsSync } from 'node:fs';
import path from 'node:path';
import { asArray, asObject, asStrings, checkServerArgs, flagValue, ROOT, type Yaml } from './deploy-files.js';

/**
 * Checks of one parsed compose file; each returns what is wrong, as lines a reader can act on,
 * so that a test shows every problem at once and can be fed a broken copy.
 */

export const services = (c: Yaml): [string, Yaml][] => Object.entries(asObject(c.services)).map(([n, s]) => [n, asObject(s)]);

/** A service's command as words (compose takes a list or one string). */
export function commandOf(s: Yaml): string[] {
  return typeof s.command === 'string' ? s.command.split(/\s+/).filter((w) => w !== '') : asStrings(s.command);
}

const isKvServer = (s: Yaml) => commandOf(s)[0] === 'kv-server';

/** What Compose v2 added that docker-compose 1.29 does not read. */
export function checkFormat(c: Yaml): string[] {
  const out: string[] = [];
  for (const key of ['name', 'include']) if (key in c) out.push(`top-level \`${key}\` is newer than docker-compose 1.29 reads`);
  for (const [name, s] of services(c)) {
    if ('start_interval' in asObject(s.healthcheck)) out.push(`${name}: healthcheck.start_interval is newer than docker-compose 1.29 reads`);
    if ('develop' in s) out.push(`${name}: \`develop\` is newer than docker-compose 1.29 reads`);
    for (const [dep, d] of Object.entries(asObject(s.depends_on))) {
      for (const key of ['required', 'restart']) if (key in asObject(d)) out.push(`${name}: depends_on.${dep}.${key} is newer than docker-compose 1.29 reads`);
    }
  }
  return out;
}

/** Every kv-server command line passes kv-server's own parser. */
export function checkServerFlags(c: Yaml): string[] {
  return services(c).filter(([, s]) => isKvServer(s)).flatMap(([name, s]) => checkServerArgs(commandOf(s).slice(1)).map((p) => `${name}: ${p}`));
}

/** Every published port is bound to the host's 127.0.0.1, in the short or the long syntax. */
export function checkPortsLoopbackOnly(c: Yaml): string[] {
  const out: string[] = [];
  for (const [name, s] of services(c)) {
    for (const p of asArray(s.ports)) {
      if (typeof p === 'object' && p !== null) {
        if (asObject(p).host_ip !== '127.0.0.1') out.push(`${name}: port ${JSON.stringify(p)} has no host_ip: 127.0.0.1`);
      } else if (!/^127\.0\.0\.1:[^:]+:\d+(\/(tcp|udp))?$/.test(String(p))) {
        out.push(`${name}: port "${String(p)}" is not published as 127.0.0.1:HOST:CONTAINER`);
      }
    }
  }
  return out;
}

/** The container ports a service publishes, as `7379/tcp`. */
export function publishedContainerPorts(s: Yaml): string[] {
  return asArray(s.ports).map((p) => {
    const m = /:(\d+)(?:\/(tcp|udp))?$/.exec(String(p));
    return m === null ? String(p) : `${m[1]}/${m[2] ?? 'tcp'}`;
  });
}

const SECRET_PATH = /\/run\/secrets\/([A-Za-z0-9._-]+)/g;
const SECRETISH_ENV = /PASS|SECRET|TOKEN|KEY|AUTH/i;

/**
 * Secrets: a service mounts only secrets the file defines, and every /run/secrets/<name> it names
 * (command, healthcheck, environment) is one it mounts; each secret is a file under docker/secrets/
 * that `made` (the secrets scripts' output) holds; no environment variable carries a secret.
 */
export function checkSecrets(c: Yaml, composeFile: string, made: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const defined = asObject(c.secrets);
  const composeDir = path.dirname(path.join(ROOT, composeFile));
  for (const [name, def] of Object.entries(defined)) {
    const file = asObject(def).file;
    if (typeof file !== 'string') { out.push(`secret ${name}: not a file (only file secrets work without swarm)`); continue; }
    const abs = path.resolve(composeDir, file);
    if (path.dirname(abs) !== path.join(ROOT, 'docker', 'secrets')) out.push(`secret ${name}: ${file} is not in docker/secrets/, where the secrets scripts write`);
    if (!made.has(path.basename(abs))) out.push(`secret ${name}: ${file} is not made by docker/gateway-secrets.sh`);
  }
  for (const [name, s] of services(c)) {
    const mounted = new Set<string>();
    for (const ref of asArray(s.secrets)) {
      const src = typeof ref === 'string' ? ref : String(asObject(ref).source);
      if (!(src in defined)) out.push(`${name}: secret ${src} is not defined under the top-level secrets`);
      mounted.add(typeof ref === 'string' ? ref : String(asObject(ref).target ?? src));
    }
    const text = JSON.stringify([s.command, s.healthcheck, s.environment, s.entrypoint]);
    for (const m of text.matchAll(SECRET_PATH)) if (!mounted.has(m[1] ?? '')) out.push(`${name}: names /run/secrets/${m[1]}, which it does not mount`);
    const env = Array.isArray(s.environment)
      ? Object.fromEntries(asStrings(s.environment).map((e) => [e.split('=')[0], e.split('=').slice(1).join('=')]))
      : asObject(s.environment);
    for (const key of Object.keys(env)) {
      if (SECRETISH_ENV.test(key) && !key.endsWith('_FILE')) out.push(`${name}: environment ${key} looks like a secret; mount a file instead`);
    }
  }
  return out;
}

const healthTest = (s: Yaml) => asStrings(asObject(s.healthcheck).test);
const hasHealthcheck = (s: Yaml) => healthTest(s).length > 0 && healthTest(s)[0] !== 'NONE' && asObject(s.healthcheck).disable !== true;
const isOneShot = (s: Yaml) => s.restart === 'no';

/**
 * Health: every long-running service has a healthcheck, and a kv-server's probes its own HTTP
 * port; depends_on names services that can meet the condition.
 */
export function checkHealth(c: Yaml): string[] {
  const out: string[] = [];
  const all = new Map(services(c));
  for (const [name, s] of all) {
    if (!isOneShot(s) && !hasHealthcheck(s)) out.push(`${name}: no healthcheck (only a one-shot job, restart: "no", may go without)`);
    if (isKvServer(s) && hasHealthcheck(s)) {
      const httpPort = flagValue(commandOf(s), 'http-port');
      const probed = /127\.0\.0\.1:(\d+)\/(readyz|livez)/.exec(healthTest(s).join(' '));
      if (probed === null) out.push(`${name}: the healthcheck does not ask http://127.0.0.1:<port>/readyz or /livez`);
      else if (probed[1] !== httpPort) out.push(`${name}: the healthcheck asks port ${probed[1]}, but --http-port is ${String(httpPort)}`);
    }
    for (const [dep, d] of Object.entries(asObject(s.depends_on))) {
      const target = all.get(dep);
      if (target === undefined) { out.push(`${name}: depends on ${dep}, which is not a service`); continue; }
      const condition = asObject(d).condition;
      if (condition === 'service_healthy' && !hasHealthcheck(target) && target.build === undefined) out.push(`${name}: waits for ${dep} to be healthy, which has no healthcheck`);
      if (condition === 'service_completed_successfully' && !isOneShot(target)) out.push(`${name}: waits for ${dep} to complete, which is not a one-shot job (restart: "no")`);
    }
  }
  return out;
}

/** Builds: each Dockerfile exists; an image that is never pulled is built by a service of the file. */
export function checkBuilds(c: Yaml, composeFile: string): string[] {
  const out: string[] = [];
  const composeDir = path.dirname(path.join(ROOT, composeFile));
  const built = new Set<string>();
  for (const [name, s] of services(c)) {
    if (s.build === undefined) continue;
    const b = typeof s.build === 'string' ? { context: s.build } : asObject(s.build);
    const dockerfile = path.resolve(composeDir, String(b.context ?? '.'), String(b.dockerfile ?? 'Dockerfile'));
    if (!existsSync(dockerfile)) out.push(`${name}: ${path.relative(ROOT, dockerfile)} does not exist`);
    if (typeof s.image === 'string') built.add(s.image);
  }
  for (const [name, s] of services(c)) {
    if (s.build === undefined && s.pull_policy === 'never' && !built.has(String(s.image))) out.push(`${name}: image ${String(s.image)} is never pulled and no service builds it`);
  }
  return out;
}

const hostOf = (endpoint: string) => endpoint.replace(/^https?:\/\//, '').replace(/:\d+$/, '');
const listFlag = (args: string[], name: string) => (flagValue(args, name) ?? '').split(',').filter((x) => x !== '');

/**
 * etcd: `members` services run etcd, each --name its service's name, each advertising its own
 * name; --initial-cluster lists exactly them; the gateways and the auth job reach only them.
 */
export function checkEtcdCluster(c: Yaml, members: number): string[] {
  const out: string[] = [];
  const etcd = services(c).filter(([, s]) => commandOf(s)[0] === 'etcd');
  if (etcd.length !== members) out.push(`${etcd.length} etcd members; want ${members}`);
  const names = new Set(etcd.map(([n]) => n));
  const want = etcd.map(([n]) => `${n}=http://${n}:2380`).sort().join(',');
  for (const [name, s] of etcd) {
    const args = commandOf(s);
    if (flagValue(args, 'name') !== name) out.push(`${name}: --name is ${String(flagValue(args, 'name'))}`);
    for (const f of ['advertise-client-urls', 'initial-advertise-peer-urls']) {
      if (!listFlag(args, f).every((u) => hostOf(u) === name)) out.push(`${name}: --${f} ${String(flagValue(args, f))} is not its own name`);
    }
    if (listFlag(args, 'initial-cluster').sort().join(',') !== want) out.push(`${name}: --initial-cluster ${String(flagValue(args, 'initial-cluster'))}; want ${want}`);
  }
  for (const [name, s] of services(c)) {
    const endpoints = isKvServer(s) ? listFlag(commandOf(s), 'etcd-endpoints') : String(asObject(s.environment).ETCD_ENDPOINTS ?? '').split(',').filter((x) => x !== '');
    for (const e of endpoints) if (!names.has(hostOf(e)) || !e.endsWith(':2379')) out.push(`${name}: etcd endpoint ${e} is not a member's client URL`);
    if (isKvServer(s) && endpoints.length !== members) out.push(`${name}: --etcd-endpoints names ${endpoints.length} members; give all ${members}`);
  }
  return out;
}

/**
 * Redis Cluster: `nodes` services run redis-server in cluster mode, each announcing its own name;
 * the create job is given every one of them; the gateways' seeds are among them.
 */
export function checkRedisCluster(c: Yaml, nodes: number): string[] {
  const out: string[] = [];
  const redis = services(c).filter(([, s]) => commandOf(s)[0] === 'redis-server');
  if (redis.length !== nodes) out.push(`${redis.length} redis nodes; want ${nodes}`);
  const names = new Set(redis.map(([n]) => n));
  for (const [name, s] of redis) {
    const args = commandOf(s);
    if (flagValue(args, 'cluster-enabled') !== 'yes') out.push(`${name}: --cluster-enabled is not yes`);
    if (flagValue(args, 'cluster-announce-hostname') !== name) out.push(`${name}: --cluster-announce-hostname is ${String(flagValue(args, 'cluster-announce-hostname'))}`);
  }
  const jobs = services(c).filter(([, s]) => 'REDIS_CLUSTER_NODES' in asObject(s.environment));
  if (jobs.length !== 1) out.push(`${jobs.length} services are given REDIS_CLUSTER_NODES; want one create job`);
  for (const [name, s] of jobs) {
    const given = String(asObject(s.environment).REDIS_CLUSTER_NODES).split(/[,\s]+/).filter((x) => x !== '');
    const want = [...names].map((n) => `${n}:6379`).sort();
    if (given.slice().sort().join(',') !== want.join(',')) out.push(`${name}: REDIS_CLUSTER_NODES is ${given.join(',')}; want every node, ${want.join(',')}`);
    if (!isOneShot(s)) out.push(`${name}: the create job is not one-shot (restart: "no")`);
  }
  for (const [name, s] of services(c).filter(([, s]) => isKvServer(s))) {
    const seeds = listFlag(commandOf(s), 'redis-cluster-nodes');
    if (seeds.length === 0) out.push(`${name}: no --redis-cluster-nodes`);
    for (const n of seeds) if (!names.has(n.replace(/:\d+$/, '')) || !n.endsWith(':6379')) out.push(`${name}: seed ${n} is not a node's host:6379`);
  }
  return out;
}
