import { Cluster, type ClusterNode, type ClusterOptions } from 'ioredis';
import { KvError } from '../../errors.js';
import { bytesToString, type ByteString } from '../../store/bytes.js';
import type { Engine, EngineRead, EngineScanStep, EngineWrite } from '../remote/engine.js';
import { describeRedisCluster } from '../backend-config.js';
import { keySlot } from './key-slot.js';
import { COMMIT_SCRIPT, PUT_SCRIPT, READ_SCRIPT } from './scripts.js';

export { keySlot };

export interface RedisClusterSettings {
  /** Seed nodes, host:port. */
  readonly nodes: readonly string[];
  readonly user?: string;
  readonly password?: string;
  /** TLS to every node; `ca` etc. are PEM contents. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string } | null;
  /** How long one command may wait for its answer, in ms. */
  readonly commandTimeoutMs?: number;
}

/** The scripts, as ioredis defines them on the cluster (EVALSHA, EVAL on NOSCRIPT), routed by their first key. */
interface ScriptCommands {
  dkvreadBuffer(numKeys: number, ...keys: Buffer[]): Promise<Array<Buffer | number | null>>;
  dkvgetBuffer(key: Buffer): Promise<Array<Buffer | number | null>>;
  dkvgetaloneBuffer(key: Buffer): Promise<Array<Buffer | number | null>>;
  dkvput(key: Buffer, value: Buffer): Promise<number>;
  dkvputalone(key: Buffer, value: Buffer): Promise<number>;
  dkvcommitBuffer(numKeys: number, ...args: Buffer[]): Promise<number[] | null>;
}

const latin1 = (s: ByteString): Buffer => Buffer.from(s, 'latin1');


/**
 * The Redis Cluster engine, through ioredis's Cluster client, which follows MOVED and
 * ASK, refreshes the slot map and reconnects after a failover. Keys of one command or
 * transaction must share a hash slot (keyGroup), as Redis Cluster itself requires.
 */
export class RedisClusterEngine implements Engine {
  readonly name = 'redis-cluster' as const;
  readonly changes = null;
  /** Records in the cluster would sit among the users' keys (SCAN, DBSIZE) and go at failover as they can: none, each gateway keeps its own. */
  readonly requests = null;
  readonly keyGroup = keySlot;
  private readonly cluster: Cluster & ScriptCommands;

  constructor(private readonly settings: RedisClusterSettings) {
    const seeds: ClusterNode[] = settings.nodes.map(parseNode);
    const tls = settings.tls ?? undefined;
    const options: ClusterOptions = {
      // A gateway started before its cluster keeps trying; EngineHealth says when it is up.
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      // 0: never send again a command whose node connection closed. ioredis would, after this
      // delay, though the command may have run: a commit resent fails its comparison, and the
      // caller, told it lost the race, applies it a second time. It fails instead (clusterError).
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      slotsRefreshTimeout: 2000,
      enableOfflineQueue: true,
      // The hot path (a GET or a plain SET of one key: dkvget, dkvput) goes out batched: the
      // commands of one event-loop turn for one master in one write, instead of a write (a
      // system call) each, which is most of what a gateway spends. ioredis routes a batch by
      // its commands' first argument, so only commands whose first argument is their key are
      // batched; the rest, and a batched command the cluster sent elsewhere, go alone (hot()).
      enableAutoPipelining: true,
      autoPipeliningIgnoredCommands: ['dkvread', 'dkvcommit', 'dkvgetalone', 'dkvputalone', 'del', 'cluster'],
      redisOptions: {
        username: settings.user,
        password: settings.password,
        commandTimeout: settings.commandTimeoutMs ?? 5000,
        // The same for a node's own reconnect: a command whose connection dropped may have run.
        maxRetriesPerRequest: 0,
        connectTimeout: 2000,
        tls: tls === undefined ? undefined : { ca: tls.ca, cert: tls.cert, key: tls.key },
      },
    };
    const cluster = new Cluster(seeds, options);
    // Failures reach callers as rejections and EngineHealth; an 'error' event with no listener would end the process.
    cluster.on('error', () => undefined);
    cluster.defineCommand('dkvread', { lua: READ_SCRIPT });
    cluster.defineCommand('dkvget', { lua: READ_SCRIPT, numberOfKeys: 1 });
    cluster.defineCommand('dkvgetalone', { lua: READ_SCRIPT, numberOfKeys: 1 });
    cluster.defineCommand('dkvput', { lua: PUT_SCRIPT, numberOfKeys: 1 });
    cluster.defineCommand('dkvputalone', { lua: PUT_SCRIPT, numberOfKeys: 1 });
    cluster.defineCommand('dkvcommit', { lua: COMMIT_SCRIPT });
    this.cluster = cluster as Cluster & ScriptCommands;
  }

  now(): number {
    return Date.now();
  }

  describe(): string {
    return describeRedisCluster(this.settings);
  }

  async read(keys: readonly ByteString[]): Promise<EngineRead[]> {
    if (keys.length === 0) return [];
    const raw =
      keys.length === 1
        ? await this.call(() => {
            const key = latin1(keys[0] as ByteString);
            return hot(() => this.cluster.dkvgetBuffer(key), () => this.cluster.dkvgetaloneBuffer(key));
          }, 'read')
        : await this.call(() => this.cluster.dkvreadBuffer(keys.length, ...keys.map(latin1)), 'read');
    const out: EngineRead[] = [];
    for (let i = 0; i < keys.length; i++) {
      const value = raw[i * 3] as Buffer | null;
      const rev = raw[i * 3 + 1] as Buffer | null;
      const expiry = raw[i * 3 + 2] as number;
      if (value === null || rev === null) {
        out.push({ entry: undefined, revision: 0 });
        continue;
      }
      const revision = Number(rev.toString('latin1'));
      out.push({ entry: { value: bytesToString(value), version: revision, expiresAt: expiry > 0 ? expiry : 0 }, revision });
    }
    return out;
  }

  async commit(expect: ReadonlyMap<ByteString, number>, writes: readonly EngineWrite[]): Promise<Map<ByteString, number> | null> {
    const keys: ByteString[] = [];
    const args = new Map<ByteString, [string, string, ByteString, string]>();
    for (const [key, revision] of expect) {
      keys.push(key);
      args.set(key, [String(revision), '', '', '0']);
    }
    for (const w of writes) {
      let a = args.get(w.key);
      if (a === undefined) {
        a = ['', '', '', '0'];
        keys.push(w.key);
        args.set(w.key, a);
      }
      if (w.kind === 'put') {
        a[1] = 'p';
        a[2] = w.value;
        a[3] = String(w.expiresAt);
      } else a[1] = 'd';
    }
    if (keys.length === 0) return new Map();
    const argv: Buffer[] = keys.map(latin1);
    for (const key of keys) for (const part of args.get(key) as string[]) argv.push(latin1(part));
    const raw = await this.call(() => this.cluster.dkvcommitBuffer(keys.length, ...argv));
    if (raw === null) return null;
    const versions = new Map<ByteString, number>();
    keys.forEach((key, i) => {
      const r = raw[i] as number;
      if (r >= 0) versions.set(key, r);
    });
    return versions;
  }

  put(key: ByteString, value: ByteString): Promise<number> {
    const k = latin1(key);
    const v = latin1(value);
    return this.call(() => hot(() => this.cluster.dkvput(k, v), () => this.cluster.dkvputalone(k, v)));
  }

  delete(keys: readonly ByteString[]): Promise<number> {
    if (keys.length === 0) return Promise.resolve(0);
    return this.call(() => this.cluster.del(...keys.map(latin1)));
  }

  dbsize(): Promise<number> {
    return this.call(async () => {
      let n = 0;
      for (const node of this.masters()) n += await node.dbsize();
      return n;
    }, 'read');
  }

  /** `from`: [master index, that master's SCAN cursor]. */
  scan(from: unknown, count: number): Promise<EngineScanStep> {
    return this.call(async () => {
      const masters = this.masters();
      let [index, cursor] = (from as [number, string] | null) ?? [0, '0'];
      const node = masters[index];
      if (node === undefined) return { keys: [], next: null };
      const [next, found] = await node.scanBuffer(cursor, 'COUNT', count);
      const keys = found.map((b) => bytesToString(b));
      cursor = next.toString('latin1');
      if (cursor === '0') {
        index++;
        if (index >= masters.length) return { keys, next: null };
      }
      return { keys, next: [index, cursor] };
    }, 'read');
  }

  randomKey(): Promise<ByteString | undefined> {
    return this.call(async () => {
      const masters = this.masters();
      const start = Math.floor(Math.random() * masters.length);
      for (let i = 0; i < masters.length; i++) {
        const key = await (masters[(start + i) % masters.length] as (typeof masters)[number]).randomkeyBuffer();
        if (key !== null) return bytesToString(key);
      }
      return undefined;
    }, 'read');
  }

  flush(): Promise<number> {
    return this.call(async () => {
      let n = 0;
      for (const node of this.masters()) {
        n += await node.dbsize();
        await node.flushdb();
      }
      return n;
    });
  }

  revisionNow(): number {
    return Date.now() * 1000;
  }

  async ping(): Promise<void> {
    if (this.cluster.status !== 'ready') throw new Error(`the cluster client is ${this.cluster.status}`);
    const info = String(await this.call(() => this.cluster.cluster('INFO'), 'read'));
    if (!/cluster_state:ok/.test(info)) throw new Error('cluster_state is not ok');
  }

  async close(): Promise<void> {
    this.cluster.disconnect();
  }

  /** The masters, in a stable order (by address), for walks over every node. */
  private masters(): ReturnType<Cluster['nodes']> {
    return this.cluster.nodes('master').sort((a, b) => address(a).localeCompare(address(b)));
  }

  /**
   * Runs a cluster call, giving its failure the project's error codes. When a node's
   * connection closed (killed, failing over), the client asks the cluster who serves its
   * slots now, and a read, which cannot apply twice, is asked again after a pause.
   */
  private async call<T>(op: () => Promise<T>, kind: 'read' | 'write' = 'write'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        const failure = clusterError(err);
        const lost = CONNECTION_LOST.test(failure.message);
        if (lost) this.cluster.refreshSlotsCache();
        if (!lost || kind === 'write' || attempt >= READ_ATTEMPTS) throw failure;
        await new Promise((resolve) => setTimeout(resolve, READ_RETRY_DELAY_MS));
      }
    }
  }
}

function address(node: { options: { host?: string; port?: number } }): string {
  return `${node.options.host ?? ''}:${node.options.port ?? 0}`;
}

function parseNode(spec: string): ClusterNode {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(spec.trim());
  if (m === null) throw new KvError('CONFIG', `Redis Cluster node "${spec}" is not host:port`);
  return { host: m[1] as string, port: Number(m[2]) };
}

/** A read whose node connection closed is asked again this many times in all, this far apart (ioredis's own failover delay). */
const READ_ATTEMPTS = 5;
const READ_RETRY_DELAY_MS = 200;

/** ioredis's words for a command whose node connection closed: it may have been sent, and run. */
const CONNECTION_LOST = /Connection is closed|Reached the max retries per request limit/;

/** A cluster failure as a KvError: which code, and a message that says what to do. */
/**
 * Replies that say a batched command did not run where it went: the slot moved (MOVED),
 * is moving (ASK), or the master has not loaded the script (NOSCRIPT, after a failover);
 * or ioredis refused the whole batch before sending it, because the slot map changed
 * while it was being filled and its keys no longer share a master. A batch cannot follow
 * them one by one, so the command goes again alone, where ioredis follows the redirection
 * and loads the script; running it once more is safe, since it did not run.
 */
const NOT_RUN_THERE = /^(MOVED|ASK|NOSCRIPT)\b|^All keys in the pipeline should belong to the same slots allocation group/;

function hot<T>(batched: () => Promise<T>, alone: () => Promise<T>): Promise<T> {
  return batched().catch((err: unknown) => {
    if (err instanceof Error && NOT_RUN_THERE.test(err.message)) return alone();
    throw err;
  });
}

export function clusterError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/^CROSSSLOT/.test(message)) return new KvError('CROSS_SLOT', "Keys in request don't hash to the same slot", { cause: err });
  if (/^TRYAGAIN/.test(message)) return new KvError('TRY_AGAIN', 'the keys are being moved between nodes of the Redis Cluster; try again', { cause: err });
  if (/^WRONGTYPE/.test(message)) {
    return new KvError('SERVER', 'the Redis Cluster holds this key as something other than a dualkv key (written there directly?); delete it or use another key', { cause: err });
  }
  if (/^(NOSCRIPT|ERR Error running script|ERR user_script)/.test(message)) {
    return new KvError('SERVER', `the Redis Cluster refused dualkv's script: ${message}`, { cause: err });
  }
  if (CONNECTION_LOST.test(message)) {
    return new KvError('BACKEND_UNAVAILABLE', `the Redis Cluster node's connection closed before it answered (${message}); a write may or may not have been applied`, { cause: err });
  }
  if (/timed? ?out/i.test(message)) {
    return new KvError('BACKEND_UNAVAILABLE', `the Redis Cluster did not answer in time (${message}); a write may or may not have been applied`, { cause: err });
  }
  // Everything else is the cluster being out of reach: down, failing over, timing out, or refusing the gateway's credentials.
  return new KvError('BACKEND_UNAVAILABLE', `the Redis Cluster did not answer: ${message}`, { cause: err });
}
