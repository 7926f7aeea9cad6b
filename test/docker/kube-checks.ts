import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { asArray, asObject, asStrings, checkServerArgs, flagValue, readYaml, ROOT, yamlFilesIn, type Yaml } from './deploy-files.js';

/**
 * Checks of one kustomize folder under docker/deploy/kubernetes/; each returns what is wrong, so
 * that a test shows every problem at once and can be fed a broken copy.
 */

export interface Bundle {
  readonly dir: string;
  readonly kustomization: Yaml;
  /** Every object of every resource file, in order. */
  readonly objects: Yaml[];
}

export function loadBundle(dir: string): Bundle {
  const [kustomization] = readYaml(path.join(dir, 'kustomization.yaml'));
  const k = kustomization ?? {};
  const objects = asStrings(k.resources).filter((r) => existsSync(path.join(ROOT, dir, r))).flatMap((r) => readYaml(path.join(dir, r)));
  return { dir, kustomization: k, objects };
}

/** Every resource named exists, and every YAML file of the folder is a resource (a file left out is never applied). */
export function checkResourcesListed(b: Bundle): string[] {
  const listed = asStrings(b.kustomization.resources);
  const out = listed.filter((r) => !existsSync(path.join(ROOT, b.dir, r))).map((r) => `kustomization.yaml lists ${r}, which does not exist`);
  for (const f of yamlFilesIn(b.dir).map((f) => path.basename(f))) {
    if (f !== 'kustomization.yaml' && !listed.includes(f)) out.push(`${f} is not in kustomization.yaml's resources`);
  }
  return out;
}

type Model = new (data: Yaml) => { validate(): void };
/** The kinds these manifests use, each with its schema (kubernetes-models: the Kubernetes OpenAPI schema, compiled). */
const MODELS: Record<string, Model> = {
  'apps/v1/Deployment': Deployment as unknown as Model,
  'apps/v1/StatefulSet': StatefulSet as unknown as Model,
  'batch/v1/Job': Job as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'v1/Secret': Secret as unknown as Model,
  'v1/ConfigMap': ConfigMap as unknown as Model,
};

const nameOf = (o: Yaml) => `${String(o.kind)}/${String(asObject(o.metadata).name)}`;

/** Every object is of a known kind and valid against the Kubernetes API schema. */
export function checkSchemas(b: Bundle): string[] {
  const out: string[] = [];
  for (const o of b.objects) {
    const model = MODELS[`${String(o.apiVersion)}/${String(o.kind)}`];
    if (model === undefined) { out.push(`${nameOf(o)}: ${String(o.apiVersion)} ${String(o.kind)} is not a kind these tests validate; add its model`); continue; }
    try {
      new model(o).validate();
    } catch (err) {
      out.push(`${nameOf(o)}: ${(err as Error).message}`);
    }
  }
  return out;
}

export interface PodTemplate {
  readonly owner: Yaml;
  readonly labels: Record<string, string>;
  readonly spec: Yaml;
}

export function podTemplates(b: Bundle): PodTemplate[] {
  return b.objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(String(o.kind)))
    .map((o) => {
      const t = asObject(asObject(o.spec).template);
      return { owner: o, labels: asObject(asObject(t.metadata).labels) as Record<string, string>, spec: asObject(t.spec) };
    });
}

export const containersOf = (p: PodTemplate): Yaml[] => asArray(p.spec.containers).map(asObject);
const matches = (selector: Record<string, unknown>, labels: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const ofKind = (b: Bundle, kind: string) => b.objects.filter((o) => o.kind === kind);

/** Workloads select their own pods; every Service selects some pods; a StatefulSet's serviceName is a headless Service. */
export function checkSelectors(b: Bundle): string[] {
  const out: string[] = [];
  const pods = podTemplates(b);
  for (const p of pods) {
    if (p.owner.kind === 'Job') continue;
    const sel = asObject(asObject(asObject(p.owner.spec).selector).matchLabels);
    if (!matches(sel, p.labels)) out.push(`${nameOf(p.owner)}: selector ${JSON.stringify(sel)} does not match its pod labels ${JSON.stringify(p.labels)}`);
  }
  for (const s of ofKind(b, 'Service')) {
    const sel = asObject(asObject(s.spec).selector);
    if (!pods.some((p) => p.owner.kind !== 'Job' && matches(sel, p.labels))) out.push(`${nameOf(s)}: selector ${JSON.stringify(sel)} matches no pods`);
  }
  for (const st of ofKind(b, 'StatefulSet')) {
    const svcName = asObject(st.spec).serviceName;
    const svc = ofKind(b, 'Service').find((s) => asObject(s.metadata).name === svcName);
    if (svc === undefined) out.push(`${nameOf(st)}: serviceName ${String(svcName)} is not a Service here`);
    else if (asObject(svc.spec).clusterIP !== 'None') out.push(`${nameOf(st)}: Service ${String(svcName)} is not headless (clusterIP: None)`);
  }
  return out;
}

interface ContainerPort { name?: string; containerPort: number; protocol: string }
const portsOf = (c: Yaml): ContainerPort[] =>
  asArray(c.ports).map(asObject).map((p) => ({ name: p.name as string | undefined, containerPort: Number(p.containerPort), protocol: String(p.protocol ?? 'TCP') }));
/** The container port a probe's or a Service's port (a name or a number) means, if any. */
const resolvePort = (ports: ContainerPort[], ref: unknown, protocol = 'TCP') =>
  ports.find((p) => p.protocol === protocol && (typeof ref === 'number' ? p.containerPort === ref : p.name === ref));

const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;
const probePort = (probe: Yaml): unknown => asObject(probe.httpGet).port ?? asObject(probe.tcpSocket).port ?? asObject(probe.grpc).port;

/** Probes ask a port the container declares; a Service's targetPorts are ports, of the same protocol, of the pods it selects. */
export function checkPorts(b: Bundle): string[] {
  const out: string[] = [];
  const pods = podTemplates(b);
  for (const p of pods) {
    for (const c of containersOf(p)) {
      for (const kind of PROBES) {
        const probe = asObject(c[kind]);
        if (Object.keys(probe).length === 0 || probe.exec !== undefined) continue;
        const ref = probePort(probe);
        if (resolvePort(portsOf(c), ref) === undefined) out.push(`${nameOf(p.owner)} ${String(c.name)}: ${kind} port ${String(ref)} is not one of its TCP container ports`);
      }
    }
  }
  for (const s of ofKind(b, 'Service')) {
    const sel = asObject(asObject(s.spec).selector);
    const selected = pods.filter((p) => matches(sel, p.labels)).flatMap(containersOf).flatMap(portsOf);
    for (const sp of asArray(asObject(s.spec).ports).map(asObject)) {
      const protocol = String(sp.protocol ?? 'TCP');
      const target = sp.targetPort ?? sp.port;
      if (resolvePort(selected, target, protocol) === undefined) out.push(`${nameOf(s)}: port ${String(sp.name)} targets ${String(target)}/${protocol}, which no selected pod declares`);
    }
  }
  return out;
}

const isKvServer = (c: Yaml) => asStrings(c.command)[0] === 'kv-server';
export const kvServerArgs = (c: Yaml) => [...asStrings(c.command).slice(1), ...asStrings(c.args)];

/** Every kv-server command line passes kv-server's own parser. */
export function checkServerFlags(b: Bundle): string[] {
  return podTemplates(b).flatMap((p) => containersOf(p).filter(isKvServer).flatMap((c) => checkServerArgs(kvServerArgs(c)).map((e) => `${nameOf(p.owner)}: ${e}`)));
}

/** The paths the HTTP front-end routes as probes (src/frontends/http/http-frontend.ts). */
export function routedProbePaths(): Set<string> {
  const source = readFileSync(path.join(ROOT, 'src/frontends/http/http-frontend.ts'), 'utf8');
  return new Set([...source.matchAll(/path === '(\/(?:livez|readyz))'/g)].map((m) => m[1] ?? ''));
}

/** A kv-server is ready on HTTP /readyz and alive on /livez, both on its --http-port. */
export function checkGatewayProbes(b: Bundle, routed = routedProbePaths()): string[] {
  const out: string[] = [];
  for (const p of podTemplates(b)) {
    for (const c of containersOf(p).filter(isKvServer)) {
      const httpPort = Number(flagValue(kvServerArgs(c), 'http-port'));
      for (const [kind, want] of [['readinessProbe', '/readyz'], ['livenessProbe', '/livez']] as const) {
        const get = asObject(asObject(c[kind]).httpGet);
        if (get.path !== want) out.push(`${nameOf(p.owner)}: ${kind} asks ${String(get.path)}; want ${want}`);
        if (!routed.has(String(get.path))) out.push(`${nameOf(p.owner)}: ${kind} path ${String(get.path)} is not a probe the HTTP front-end routes (${[...routed].join(', ')})`);
        const port = resolvePort(portsOf(c), get.port);
        if (port?.containerPort !== httpPort) out.push(`${nameOf(p.owner)}: ${kind} port ${String(get.port)} is not --http-port ${httpPort}`);
      }
    }
  }
  return out;
}

/** The secrets a kustomization makes, each with its keys (`key=file` or the file's name). */
export function generatedSecrets(b: Bundle): Map<string, { keys: Set<string>; files: string[] }> {
  const out = new Map<string, { keys: Set<string>; files: string[] }>();
  for (const g of asArray(b.kustomization.secretGenerator).map(asObject)) {
    const files = asStrings(g.files).map((f) => (f.includes('=') ? f.slice(f.indexOf('=') + 1) : f));
    const keys = new Set(asStrings(g.files).map((f) => (f.includes('=') ? f.slice(0, f.indexOf('=')) : path.basename(f))));
    out.set(String(g.name), { keys, files });
  }
  for (const s of ofKind(b, 'Secret')) out.set(String(asObject(s.metadata).name), { keys: new Set([...Object.keys(asObject(s.data)), ...Object.keys(asObject(s.stringData))]), files: [] });
  return out;
}

const SECRET_PATH = /\/run\/secrets\/[A-Za-z0-9._/-]+/g;
const SECRETISH_ENV = /PASS|SECRET|TOKEN|KEY|AUTH/i;

/**
 * Secrets: each volume's secret is made here with the keys it picks; each generator's file is one
 * docker/gateway-secrets.sh makes (`made`), in the folder's secrets/; every /run/secrets/ path a
 * container names is a key of a secret mounted there; no secret comes in through the environment.
 */
export function checkSecrets(b: Bundle, made: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const secrets = generatedSecrets(b);
  for (const [name, { files }] of secrets) {
    for (const f of files) if (path.dirname(f) !== 'secrets' || !made.has(path.basename(f))) out.push(`secretGenerator ${name}: ${f} is not a file docker/gateway-secrets.sh makes in secrets/`);
  }
  for (const p of podTemplates(b)) {
    const volumes = new Map<string, { secret: string; keys: Set<string> }>();
    for (const v of asArray(p.spec.volumes).map(asObject)) {
      const s = asObject(v.secret);
      if (s.secretName === undefined) continue;
      const made = secrets.get(String(s.secretName));
      if (made === undefined) { out.push(`${nameOf(p.owner)}: volume ${String(v.name)} mounts secret ${String(s.secretName)}, which nothing here makes`); continue; }
      const items = asArray(s.items).map(asObject);
      for (const it of items) if (!made.keys.has(String(it.key))) out.push(`${nameOf(p.owner)}: secret ${String(s.secretName)} has no key ${String(it.key)}`);
      volumes.set(String(v.name), { secret: String(s.secretName), keys: items.length > 0 ? new Set(items.map((it) => String(it.path))) : made.keys });
    }
    for (const c of containersOf(p)) {
      const mounts = asArray(c.volumeMounts).map(asObject).filter((m) => volumes.has(String(m.name)));
      const env = asArray(c.env).map(asObject);
      const named = JSON.stringify([c.command, c.args, env.map((e) => e.value), asObject(asObject(c.readinessProbe).exec).command]).match(SECRET_PATH) ?? [];
      for (const file of named) {
        const mount = mounts.find((m) => path.dirname(file) === m.mountPath);
        const keys = mount === undefined ? undefined : volumes.get(String(mount.name))?.keys;
        if (keys === undefined) out.push(`${nameOf(p.owner)} ${String(c.name)}: names ${file}, but no secret is mounted at ${path.dirname(file)}`);
        else if (!keys.has(path.basename(file))) out.push(`${nameOf(p.owner)} ${String(c.name)}: names ${file}, but the secret mounted there has no ${path.basename(file)}`);
      }
      for (const e of env) {
        if (asObject(e.valueFrom).secretKeyRef !== undefined) out.push(`${nameOf(p.owner)} ${String(c.name)}: env ${String(e.name)} comes from a secret; mount it as a file instead`);
        if (SECRETISH_ENV.test(String(e.name)) && !String(e.name).endsWith('_FILE')) out.push(`${nameOf(p.owner)} ${String(c.name)}: env ${String(e.name)} looks like a secret; mount a file instead`);
      }
      if (asArray(c.envFrom).length > 0) out.push(`${nameOf(p.owner)} ${String(c.name)}: envFrom puts a whole object in the environment`);
    }
  }
  return out;
}

/** The pods' stable names a StatefulSet makes: `<name>-<i>.<serviceName>`. */
export function statefulSetHosts(b: Bundle, name: string): string[] {
  const st = ofKind(b, 'StatefulSet').find((o) => asObject(o.metadata).name === name);
  if (st === undefined) return [];
  const spec = asObject(st.spec);
  return Array.from({ length: Number(spec.replicas ?? 1) }, (_, i) => `${name}-${i}.${String(spec.serviceName)}`);
}

export const findContainer = (b: Bundle, kind: string, name: string): Yaml =>
  containersOf(podTemplates(b).find((p) => p.owner.kind === kind && asObject(p.owner.metadata).name === name) ?? { owner: {}, labels: {}, spec: {} })[0] ?? {};

export const envValue = (c: Yaml, name: string): string | undefined => {
  const e = asArray(c.env).map(asObject).find((x) => x.name === name);
  return e === undefined ? undefined : String(e.value);
};
