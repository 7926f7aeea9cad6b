import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asArray, asObject, asStrings, flagValue, kustomizeDirs, ROOT, type Yaml } from './deploy-files.js';
import {
  checkGatewayProbes,
  checkPorts,
  checkResourcesListed,
  checkSchemas,
  checkSecrets,
  checkSelectors,
  checkServerFlags,
  envValue,
  findContainer,
  kvServerArgs,
  loadBundle,
  routedProbePaths,
  statefulSetHosts,
  type Bundle,
} from './kube-checks.js';

// The secrets a generator may read are the files the real script makes.
let secretsDir = '';
let made = new Set<string>();
beforeAll(() => {
  secretsDir = mkdtempSync(path.join(tmpdir(), 'dualkv-gateway-secrets-'));
  execFileSync('bash', [path.join(ROOT, 'docker/gateway-secrets.sh'), secretsDir], { stdio: 'pipe' });
  made = new Set(readdirSync(secretsDir));
});
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

const DIRS = kustomizeDirs();

it('finds the etcd and the Redis Cluster variants', () => {
  expect(DIRS.map((d) => path.basename(d))).toEqual(['etcd', 'redis-cluster']);
});

describe.each(DIRS)('%s', (dir) => {
  const b = loadBundle(dir);

  it('applies every YAML file of the folder, and each resource exists', () => {
    expect(b.objects.length).toBeGreaterThan(0);
    expect(checkResourcesListed(b)).toEqual([]);
  });

  it('is valid against the Kubernetes API schema', () => {
    expect(checkSchemas(b)).toEqual([]);
  });

  it('has workloads that select their own pods, Services that select pods, and headless Services for StatefulSets', () => {
    expect(checkSelectors(b)).toEqual([]);
  });

  it("has probes on the containers' declared ports, and Service target ports that the pods declare", () => {
    expect(checkPorts(b)).toEqual([]);
  });

  it("passes every kv-server command line through kv-server's own flag parser", () => {
    expect(checkServerFlags(b)).toEqual([]);
  });

  it('probes the gateways on HTTP /readyz (ready) and /livez (alive), on --http-port', () => {
    expect(routedProbePaths()).toEqual(new Set(['/livez', '/readyz']));
    expect(checkGatewayProbes(b)).toEqual([]);
  });

  it('mounts secrets as files, each one made here from a file the secrets script makes', () => {
    expect(checkSecrets(b, made)).toEqual([]);
  });

  it('runs two or more gateways behind a Service with TCP, UDP and HTTP ports', () => {
    const deployment = b.objects.find((o) => o.kind === 'Deployment');
    expect(Number(asObject(deployment?.spec).replicas)).toBeGreaterThanOrEqual(2);
    const gw = findContainer(b, 'Deployment', String(asObject(deployment?.metadata).name));
    const svc = b.objects.find((o) => o.kind === 'Service' && asObject(o.spec).clusterIP !== 'None');
    const ports = asArray(asObject(svc?.spec).ports).map(asObject).map((p) => `${String(p.port)}/${String(p.protocol ?? 'TCP')}`).sort();
    const tcp = flagValue(kvServerArgs(gw), 'port');
    expect(ports).toEqual([`${String(tcp)}/TCP`, `${String(tcp)}/UDP`, `${String(flagValue(kvServerArgs(gw), 'http-port'))}/TCP`].sort());
  });
});

describe('docker/deploy/kubernetes/etcd', () => {
  const b = loadBundle('docker/deploy/kubernetes/etcd');
  it('has a 3-member StatefulSet whose --initial-cluster is its pods, and the gateways and the auth job reach every member', () => {
    expect(etcdProblems(b)).toEqual([]);
  });
});

describe('docker/deploy/kubernetes/redis-cluster', () => {
  const b = loadBundle('docker/deploy/kubernetes/redis-cluster');
  it('has a 6-node StatefulSet, a create job given every node, and gateway seeds among them', () => {
    expect(redisProblems(b)).toEqual([]);
  });
});

function etcdProblems(b: Bundle): string[] {
  const out: string[] = [];
  const hosts = statefulSetHosts(b, 'etcd');
  if (hosts.length !== 3) out.push(`${hosts.length} etcd members; want 3`);
  const etcd = findContainer(b, 'StatefulSet', 'etcd');
  const initial = (flagValue(asStrings(etcd.command), 'initial-cluster') ?? '').split(',').sort();
  const want = hosts.map((h) => `${h.split('.')[0]}=http://${h}:2380`).sort();
  if (initial.join(',') !== want.join(',')) out.push(`--initial-cluster ${initial.join(',')}; want ${want.join(',')}`);
  const clientUrls = hosts.map((h) => `http://${h}:2379`).join(',');
  const gw = findContainer(b, 'Deployment', 'dualkv-gateway');
  if (flagValue(kvServerArgs(gw), 'etcd-endpoints') !== clientUrls) out.push(`the gateway's --etcd-endpoints is ${String(flagValue(kvServerArgs(gw), 'etcd-endpoints'))}; want ${clientUrls}`);
  const job = findContainer(b, 'Job', 'etcd-auth');
  if (envValue(job, 'ETCD_ENDPOINTS') !== clientUrls) out.push(`the auth job's ETCD_ENDPOINTS is ${String(envValue(job, 'ETCD_ENDPOINTS'))}; want ${clientUrls}`);
  if (envValue(job, 'ETCD_PREFIX') !== flagValue(kvServerArgs(gw), 'etcd-prefix')) out.push("the auth job's ETCD_PREFIX is not the gateway's --etcd-prefix");
  if (envValue(job, 'ETCD_USER') !== flagValue(kvServerArgs(gw), 'etcd-user')) out.push("the auth job's ETCD_USER is not the gateway's --etcd-user");
  return out;
}

function redisProblems(b: Bundle): string[] {
  const out: string[] = [];
  const hosts = statefulSetHosts(b, 'redis');
  if (hosts.length !== 6) out.push(`${hosts.length} redis nodes; want 6`);
  const node = findContainer(b, 'StatefulSet', 'redis');
  if (flagValue(asStrings(node.command), 'cluster-enabled') !== 'yes') out.push('--cluster-enabled is not yes');
  if (flagValue(asStrings(node.command), 'cluster-announce-hostname') !== '$(POD_NAME).redis') out.push('the nodes do not announce $(POD_NAME).<serviceName>');
  const all = hosts.map((h) => `${h}:6379`);
  const job = findContainer(b, 'Job', 'redis-cluster-create');
  const given = (envValue(job, 'REDIS_CLUSTER_NODES') ?? '').split(',');
  if (given.slice().sort().join(',') !== all.slice().sort().join(',')) out.push(`the create job's REDIS_CLUSTER_NODES is ${given.join(',')}; want ${all.join(',')}`);
  const gw = findContainer(b, 'Deployment', 'dualkv-gateway');
  const seeds = (flagValue(kvServerArgs(gw), 'redis-cluster-nodes') ?? '').split(',');
  for (const s of seeds) if (!all.includes(s)) out.push(`the gateway's seed ${s} is not a node`);
  if (envValue(job, 'REDIS_USER') !== flagValue(kvServerArgs(gw), 'redis-cluster-user')) out.push("the create job's REDIS_USER is not the gateway's --redis-cluster-user");
  return out;
}

/** A copy of a folder's objects with one edit applied to the first object of a kind. */
function edited(b: Bundle, kind: string, edit: (o: Yaml) => void, name?: string): Bundle {
  const copy = structuredClone(b);
  const o = copy.objects.find((x) => x.kind === kind && (name === undefined || asObject(x.metadata).name === name));
  if (o === undefined) throw new Error(`no ${kind} to edit`);
  edit(o);
  return copy;
}
const podSpec = (o: Yaml) => asObject(asObject(asObject(o.spec).template).spec);
const container = (o: Yaml) => asObject(asArray(podSpec(o).containers)[0]);
const replaceArg = (c: Yaml, from: string, to: string) => { c.args = asStrings(c.args).map((a) => (a === from ? to : a)); };

describe('each check catches the typo it is there for', () => {
  const etcd = loadBundle('docker/deploy/kubernetes/etcd');
  const redis = loadBundle('docker/deploy/kubernetes/redis-cluster');
  const cases: [string, () => string[]][] = [
    ['a resource file that does not exist', () => checkResourcesListed({ ...etcd, kustomization: { ...etcd.kustomization, resources: ['etcd.yaml', 'gateways.yaml', 'etcd-auth-job.yaml'] } })],
    ['a containerPort that is not a number', () => checkSchemas(edited(etcd, 'StatefulSet', (o) => { asObject(asArray(container(o).ports)[0]).containerPort = '2379x'; }))],
    ['a Deployment without its selector', () => checkSchemas(edited(etcd, 'Deployment', (o) => { delete asObject(o.spec).selector; }))],
    ['a Service selector with a typo', () => checkSelectors(edited(etcd, 'Service', (o) => { asObject(o.spec).selector = { 'app.kubernetes.io/name': 'dualkv-gatway' }; }, 'dualkv'))],
    ['pod labels that the workload does not select', () => checkSelectors(edited(redis, 'StatefulSet', (o) => { asObject(asObject(o.spec).template).metadata = { labels: { app: 'redis' } }; }))],
    ['a StatefulSet whose Service has another name', () => checkSelectors(edited(etcd, 'StatefulSet', (o) => { asObject(o.spec).serviceName = 'etcd-headless'; }))],
    ['a probe on a port the container does not declare', () => checkPorts(edited(etcd, 'StatefulSet', (o) => { asObject(asObject(container(o).readinessProbe).httpGet).port = 'clients'; }))],
    ['a Service targetPort no pod declares', () => checkPorts(edited(redis, 'Service', (o) => { asObject(asArray(asObject(o.spec).ports)[1]).targetPort = 'kv-udpp'; }, 'dualkv'))],
    ['a misspelt kv-server flag', () => checkServerFlags(edited(redis, 'Deployment', (o) => { replaceArg(container(o), '--redis-cluster-user=dualkv', '--redis-cluster-users=dualkv'); }))],
    ['a readiness probe on /ready', () => checkGatewayProbes(edited(etcd, 'Deployment', (o) => { asObject(asObject(container(o).readinessProbe).httpGet).path = '/ready'; }))],
    ['a gateway probed on another port than --http-port', () => checkGatewayProbes(edited(etcd, 'Deployment', (o) => { replaceArg(container(o), '--http-port=8080', '--http-port=8081'); }))],
    ['a secret volume naming a secret nothing makes', () => checkSecrets(edited(etcd, 'Deployment', (o) => { asObject(asObject(asArray(podSpec(o).volumes)[0]).secret).secretName = 'dualkv-user'; }), made)],
    ['a password file path that is not mounted', () => checkSecrets(edited(redis, 'Deployment', (o) => { replaceArg(container(o), '--redis-cluster-password-file=/run/secrets/redis/redis.password', '--redis-cluster-password-file=/run/secrets/redis/password'); }), made)],
    ['a password from the environment', () => checkSecrets(edited(etcd, 'Job', (o) => { container(o).env = [{ name: 'ETCD_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: 'etcd-auth', key: 'etcd.root-password' } } }]; }), made)],
    ['a generator file no script makes', () => checkSecrets({ ...etcd, kustomization: { ...etcd.kustomization, secretGenerator: [{ name: 'dualkv-users', files: ['users=secrets/user'] }] } }, made)],
    ['an etcd member missing from the gateway', () => etcdProblems(edited(etcd, 'Deployment', (o) => { replaceArg(container(o), '--etcd-endpoints=http://etcd-0.etcd:2379,http://etcd-1.etcd:2379,http://etcd-2.etcd:2379', '--etcd-endpoints=http://etcd-0.etcd:2379,http://etcd-1.etcd:2379'); }))],
    ['5 redis nodes', () => redisProblems(edited(redis, 'StatefulSet', (o) => { asObject(o.spec).replicas = 5; }))],
  ];
  it.each(cases)('%s', (_name, check) => {
    expect(check()).not.toEqual([]);
  });
});
