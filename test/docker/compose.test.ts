import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asObject, COMPOSE_FILES, flagValue, readCompose, ROOT, type Yaml } from './deploy-files.js';
import {
  checkBuilds,
  checkEtcdCluster,
  checkFormat,
  checkHealth,
  checkPortsLoopbackOnly,
  checkRedisCluster,
  checkSecrets,
  checkServerFlags,
  commandOf,
  publishedContainerPorts,
  services,
} from './compose-checks.js';

// The secrets a compose file may mount are the files the real script makes.
let secretsDir = '';
let made = new Set<string>();
beforeAll(() => {
  secretsDir = mkdtempSync(path.join(tmpdir(), 'dualkv-gateway-secrets-'));
  execFileSync('bash', [path.join(ROOT, 'docker/gateway-secrets.sh'), secretsDir], { stdio: 'pipe' });
  made = new Set(readdirSync(secretsDir));
});
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

const GATEWAY_STACKS = [
  { file: 'docker/compose-etcd.yml', backend: 'etcd' },
  { file: 'docker/compose-redis-cluster.yml', backend: 'redis-cluster' },
] as const;

const gateways = (c: Yaml) => services(c).filter(([, s]) => commandOf(s)[0] === 'kv-server');

describe.each(COMPOSE_FILES)('%s', (file) => {
  const compose = readCompose(file);

  it('parses, and uses nothing newer than docker-compose 1.29 reads', () => {
    expect(services(compose).length).toBeGreaterThan(0);
    expect(checkFormat(compose)).toEqual([]);
  });

  it("passes every kv-server command line through kv-server's own flag parser", () => {
    expect(checkServerFlags(compose)).toEqual([]);
  });

  it("publishes ports on the host's 127.0.0.1 only", () => {
    expect(checkPortsLoopbackOnly(compose)).toEqual([]);
  });

  it('mounts only secrets it defines, each a file the secrets script makes, and no secret goes in the environment', () => {
    expect(made.has('users')).toBe(true);
    expect(checkSecrets(compose, file, made)).toEqual([]);
  });

  it('builds from Dockerfiles that exist, and never pulls an image it does not build', () => {
    expect(checkBuilds(compose, file)).toEqual([]);
  });
});

describe.each(GATEWAY_STACKS)('$file', ({ file, backend }) => {
  const compose = readCompose(file);

  it('has a healthcheck on every long-running service, and each gateway probes its own HTTP port', () => {
    expect(checkHealth(compose)).toEqual([]);
  });

  it(`runs two or more gateways with --backend ${backend}, each publishing TCP, UDP and HTTP`, () => {
    const gw = gateways(compose);
    expect(gw.length).toBeGreaterThanOrEqual(2);
    for (const [, s] of gw) {
      const args = commandOf(s);
      expect(flagValue(args, 'backend')).toBe(backend);
      expect(flagValue(args, 'host')).toBe('0.0.0.0');
      const port = flagValue(args, 'port') ?? '7379';
      expect(publishedContainerPorts(s).sort()).toEqual([`${port}/tcp`, `${port}/udp`, `${String(flagValue(args, 'http-port'))}/tcp`].sort());
    }
    const hostPorts = gw.flatMap(([, s]) => (s.ports as string[]).map((p) => p.replace(/:\d+(\/\w+)?$/, `$1`)));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });
});

describe('docker/compose-etcd.yml: the etcd cluster', () => {
  it('has 3 members that list one another, and the gateways and the auth job reach all of them', () => {
    expect(checkEtcdCluster(readCompose('docker/compose-etcd.yml'), 3)).toEqual([]);
  });
});

describe('docker/compose-redis-cluster.yml: the Redis Cluster', () => {
  it('has 6 cluster-mode nodes, a create job given every one, and gateway seeds among them', () => {
    expect(checkRedisCluster(readCompose('docker/compose-redis-cluster.yml'), 6)).toEqual([]);
  });

  it('creates the cluster with one replica per master (3 masters, 3 replicas)', () => {
    const script = readFileSync(path.join(ROOT, 'docker/redis-cluster-create.sh'), 'utf8');
    expect(script).toMatch(/redis-cli [^\n]*--cluster create [^\n]*--cluster-replicas 1/);
    const job = services(readCompose('docker/compose-redis-cluster.yml')).find(([, s]) => 'REDIS_CLUSTER_NODES' in asObject(s.environment));
    expect(job && commandOf(job[1])).toEqual(['dualkv-redis-cluster-create']);
  });
});

/** A copy of a service's command with one word replaced. */
function withCommand(c: Yaml, service: string, from: string, to: string): Yaml {
  const copy = structuredClone(c);
  const s = asObject(asObject(copy.services)[service]);
  s.command = commandOf(s).map((w) => (w === from ? to : w));
  return copy;
}

function edited(c: Yaml, edit: (copy: Yaml) => void): Yaml {
  const copy = structuredClone(c);
  edit(copy);
  return copy;
}

const svc = (c: Yaml, name: string) => asObject(asObject(c.services)[name]);

describe('each check catches the typo it is there for', () => {
  const etcd = readCompose('docker/compose-etcd.yml');
  const redis = readCompose('docker/compose-redis-cluster.yml');
  const cases: [string, () => string[]][] = [
    ['a misspelt kv-server flag', () => checkServerFlags(withCommand(etcd, 'gateway-1', '--etcd-user=dualkv', '--etcd-usr=dualkv'))],
    ['a value outside a flag\'s choices', () => checkServerFlags(withCommand(etcd, 'gateway-1', '--backend=etcd', '--backend=etc'))],
    ['a port published on every interface', () => checkPortsLoopbackOnly(edited(etcd, (c) => { svc(c, 'gateway-2').ports = ['7389:7379/tcp']; }))],
    ['a secret mounted but not defined', () => checkSecrets(edited(etcd, (c) => { svc(c, 'gateway-1').secrets = ['users', 'etcd.pasword']; }), 'docker/compose-etcd.yml', made)],
    ['a password file path that is not mounted', () => checkSecrets(withCommand(redis, 'gateway-1', '--redis-cluster-password-file=/run/secrets/redis.password', '--redis-cluster-password-file=/run/secrets/redis.pass'), 'docker/compose-redis-cluster.yml', made)],
    ['a secret file no script makes', () => checkSecrets(edited(etcd, (c) => { asObject(asObject(c.secrets).users).file = './secrets/user'; }), 'docker/compose-etcd.yml', made)],
    ['a password in the environment', () => checkSecrets(edited(etcd, (c) => { svc(c, 'etcd-auth').environment = { ETCD_PASSWORD: 'x' }; }), 'docker/compose-etcd.yml', made)],
    ['a top-level name', () => checkFormat({ ...etcd, name: 'dualkv' })],
    ['a healthcheck on the wrong port', () => checkHealth(withCommand(etcd, 'gateway-2', '--http-port=8080', '--http-port=8090'))],
    ['a long-running service without a healthcheck', () => checkHealth(edited(redis, (c) => { delete svc(c, 'redis-4').healthcheck; }))],
    ['a missing Dockerfile', () => checkBuilds(edited(etcd, (c) => { asObject(svc(c, 'etcd-1').build).dockerfile = 'docker/etcd.dockerfile'; }), 'docker/compose-etcd.yml')],
    ['a member left out of --initial-cluster', () => checkEtcdCluster(withCommand(etcd, 'etcd-2', '--name=etcd-2', '--name=etcd-4'), 3)],
    ['a gateway endpoint with a typo', () => checkEtcdCluster(withCommand(etcd, 'gateway-1', '--etcd-endpoints=http://etcd-1:2379,http://etcd-2:2379,http://etcd-3:2379', '--etcd-endpoints=http://etcd-1:2379,http://etcd2:2379,http://etcd-3:2379'), 3)],
    ['a node missing from the create job', () => checkRedisCluster(edited(redis, (c) => { asObject(svc(c, 'cluster-create').environment).REDIS_CLUSTER_NODES = 'redis-1:6379,redis-2:6379'; }), 6)],
    ['a node announcing another name', () => checkRedisCluster(withCommand(redis, 'redis-3', 'redis-3', 'redis-03'), 6)],
  ];
  it.each(cases)('%s', (_name, check) => {
    expect(check()).not.toEqual([]);
  });
});
