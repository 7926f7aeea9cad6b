import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePorts } from './procs.js';
import { makePeerDir, PeerProcess, pollUntil, removePeerDir } from './peer-process.js';
import { runPeer } from './run-peer.js';
import { callRedis } from './redis-call.js';
import { parseClusterNodes, sameView, type ClusterNodeEntry, type SlotRange } from './redis-cluster-nodes.js';

export type { SlotRange } from './redis-cluster-nodes.js';

/** Redis Cluster's slot count (cluster spec: HASH_SLOT = CRC16(key) mod 16384). */
export const CLUSTER_SLOTS = 16384;

const HOST = '127.0.0.1';

/** Failure detection takes one node timeout, and a replica's election starts 0.5–1 s after it. */
const DEFAULT_NODE_TIMEOUT_MS = 1_000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 3;
const CLI_TIMEOUT_MS = 60_000;

export interface RedisClusterOptions {
  /** Masters, each with a share of the slots; at least 3, as redis-cli --cluster create requires. Default 3. */
  masters?: number;
  /** Replicas of each master. Default 1; 0 forms faster but cannot fail over. */
  replicas?: number;
  /** cluster-node-timeout: how long a node may not answer before it is thought failed. */
  nodeTimeoutMs?: number;
  /** requirepass on every node, and masterauth so that replicas can sync. */
  password?: string;
  readyTimeoutMs?: number;
  /** More redis-server options for every node, e.g. [['cluster-require-full-coverage', 'no']]. */
  config?: ReadonlyArray<readonly [string, ...string[]]>;
}

export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
  /** The cluster bus port (cluster-port). */
  readonly busPort: number;
  readonly dir: string;
  /** As of the last topology read (start, refresh, waitClusterOk, waitForFailover, reshard). */
  readonly id: string;
  readonly role: 'master' | 'replica';
  readonly masterId: string | null;
  readonly slots: readonly SlotRange[];
  /** The current process's; a restart changes it. */
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** The tail of the current process's log. */
  readonly output: string;
}

export interface RedisCluster {
  readonly nodes: readonly RedisClusterNode[];
  /** 'host:port' of every node, for a cluster client's startup nodes. */
  readonly seeds: readonly string[];
  readonly password: string | undefined;
  /** Re-reads the topology (roles, slots) from a running node. */
  refresh(): Promise<void>;
  /** The running masters that serve slots, read now. */
  masters(): Promise<RedisClusterNode[]>;
  /** The replicas of `master`, read now. */
  replicasOf(master: RedisClusterNode): Promise<RedisClusterNode[]>;
  /** The node that serves `slot`, read now. */
  ownerOf(slot: number): Promise<RedisClusterNode>;
  /**
   * Waits until every running node says cluster_state:ok with all slots ok, knows every node,
   * agrees with the others on roles and slots, and every running replica's link is up.
   * Right after a kill this may still pass: failure is noticed only after cluster-node-timeout.
   */
  waitClusterOk(timeoutMs?: number): Promise<void>;
  /** Waits until a replica of `master` (killed) serves its slots and the cluster is ok; returns it. */
  waitForFailover(master: RedisClusterNode, timeoutMs?: number): Promise<RedisClusterNode>;
  /** Waits until every running replica has the replication offset of its master. */
  waitReplicated(timeoutMs?: number): Promise<void>;
  /** Signals a node (SIGKILL: no clean shutdown) and waits for it to exit. */
  killNode(node: RedisClusterNode, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed node again with its nodes.conf; it rejoins (a master that lost its slots as a replica). */
  restartNode(node: RedisClusterNode): Promise<void>;
  /** Moves `slots` slots (and their keys) with redis-cli --cluster reshard, then waits for the cluster to agree. */
  reshard(from: string | RedisClusterNode, to: string | RedisClusterNode, slots: number): Promise<void>;
  /** Sends one command to one node (no redirects) and returns the reply. */
  call(node: RedisClusterNode, ...args: Array<string | number>): Promise<unknown>;
  /** Runs redis-cli with the password, if any; returns stdout, throws on a non-zero exit. */
  redisCli(args: readonly string[]): Promise<string>;
  /** Kills every node and removes their dirs. Always safe to call, also twice. */
  stop(): Promise<void>;
}

class Node implements RedisClusterNode {
  readonly host = HOST;
  proc: PeerProcess | undefined;
  expectedUp = false;
  id = '';
  role: 'master' | 'replica' = 'master';
  masterId: string | null = null;
  slots: readonly SlotRange[] = [];

  constructor(
    readonly port: number,
    readonly busPort: number,
    readonly dir: string,
    private readonly args: readonly string[],
  ) {}

  get pid(): number | undefined {
    return this.proc?.alive ? this.proc.pid : undefined;
  }

  get alive(): boolean {
    return this.proc?.alive ?? false;
  }

  get output(): string {
    return this.proc?.output ?? '';
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  start(): void {
    this.proc = PeerProcess.spawn('redis-server', this.args, `redis-server ${this.address}`, { cwd: this.dir });
    this.expectedUp = true;
  }

  check(): void {
    if (this.expectedUp && this.proc !== undefined && !this.proc.alive) {
      throw this.proc.failure(this.proc.lostAPort ? 'could not bind its ports (taken by another process)' : 'exited');
    }
  }
}

class Cluster implements RedisCluster {
  readonly seeds: readonly string[];
  private stopped = false;

  constructor(
    readonly nodes: readonly Node[],
    private readonly dir: string,
    readonly password: string | undefined,
    private readonly readyTimeoutMs: number,
  ) {
    this.seeds = nodes.map((n) => n.address);
  }

  private check = (): void => {
    if (this.stopped) throw new Error('the Redis Cluster was stopped');
    for (const n of this.nodes) n.check();
  };

  private node(x: string | RedisClusterNode): Node {
    const n = this.nodes.find((m) => (typeof x === 'string' ? m.id === x : m === x));
    if (n === undefined) throw new Error(`${typeof x === 'string' ? x : x.port} is not a node of this cluster`);
    return n;
  }

  call(node: RedisClusterNode, ...args: Array<string | number>): Promise<unknown> {
    return callRedis(node, this.password, args);
  }

  /** The reply, or null if the node did not answer. */
  private async ask(node: Node, ...args: string[]): Promise<string | null> {
    if (!node.alive) return null;
    try {
      return String(await this.call(node, ...args));
    } catch {
      return null;
    }
  }

  /** Applies one node's CLUSTER NODES to the fixture's nodes. */
  private apply(entries: readonly ClusterNodeEntry[]): void {
    for (const e of entries) {
      const n = this.nodes.find((m) => m.port === e.port);
      if (n === undefined) continue;
      n.id = e.id;
      n.role = e.master ? 'master' : 'replica';
      n.masterId = e.masterId;
      n.slots = e.slots;
    }
  }

  async refresh(): Promise<void> {
    for (const n of this.nodes) {
      const text = await this.ask(n, 'CLUSTER', 'NODES');
      if (text !== null) return this.apply(parseClusterNodes(text));
    }
    throw new Error('no node of the Redis Cluster answered CLUSTER NODES');
  }

  async masters(): Promise<RedisClusterNode[]> {
    await this.refresh();
    return this.nodes.filter((n) => n.alive && n.role === 'master' && n.slots.length > 0);
  }

  async replicasOf(master: RedisClusterNode): Promise<RedisClusterNode[]> {
    await this.refresh();
    return this.nodes.filter((n) => n.role === 'replica' && n.masterId === master.id);
  }

  async ownerOf(slot: number): Promise<RedisClusterNode> {
    await this.refresh();
    const owner = this.nodes.find((n) => n.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
    if (owner === undefined) throw new Error(`no node serves slot ${slot}`);
    return owner;
  }

  async waitClusterOk(timeoutMs = this.readyTimeoutMs): Promise<void> {
    let last = '';
    const viewsAt = await pollUntil(
      async () => {
        const running = this.nodes.filter((n) => n.alive);
        const views: string[] = [];
        for (const n of running) {
          const info = await this.ask(n, 'CLUSTER', 'INFO');
          const field = (name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(info ?? '')?.[1];
          const problem =
            info === null ? 'no answer'
            : field('cluster_state') !== 'ok' ? `cluster_state:${field('cluster_state') ?? '?'}`
            : field('cluster_slots_ok') !== String(CLUSTER_SLOTS) ? `cluster_slots_ok:${field('cluster_slots_ok') ?? '?'}`
            : field('cluster_known_nodes') !== String(this.nodes.length) ? `cluster_known_nodes:${field('cluster_known_nodes') ?? '?'}`
            : null;
          if (problem !== null) {
            last = `${n.address} ${problem}`;
            return undefined;
          }
          const nodes = await this.ask(n, 'CLUSTER', 'NODES');
          if (nodes === null) return undefined;
          views.push(nodes);
          const replication = await this.ask(n, 'INFO', 'replication');
          if (replication?.includes('role:slave') && !replication.includes('master_link_status:up')) {
            last = `${n.address} is a replica whose link to its master is not up`;
            return undefined;
          }
        }
        if (!sameView(views.map(parseClusterNodes))) {
          last = 'the nodes disagree on roles or slots';
          return undefined;
        }
        return views;
      },
      'every running Redis Cluster node to say cluster_state:ok and agree on the slots',
      { timeoutMs, intervalMs: 200, check: this.check, last: () => last },
    );
    const first = viewsAt[0];
    if (first !== undefined) this.apply(parseClusterNodes(first));
  }

  async waitForFailover(master: RedisClusterNode, timeoutMs = this.readyTimeoutMs): Promise<RedisClusterNode> {
    const dead = this.node(master);
    const slot = dead.slots[0]?.[0];
    if (slot === undefined) throw new Error(`${dead.address} served no slots, so nothing fails over from it`);
    if (dead.alive) throw new Error(`${dead.address} is running: kill it first`);
    const started = Date.now();
    // cluster_state stays ok until the failure is noticed, so first wait for the slot to move.
    await pollUntil(
      async () => {
        const owner = await this.ownerOf(slot).catch(() => undefined);
        return owner !== undefined && owner !== dead && owner.alive ? owner : undefined;
      },
      `a replica of ${dead.address} to take over slot ${slot}`,
      { timeoutMs, intervalMs: 200, check: this.check },
    );
    await this.waitClusterOk(Math.max(1, timeoutMs - (Date.now() - started)));
    // Asked again now that every node agrees: the first answer was one node's view.
    return this.ownerOf(slot);
  }

  async waitReplicated(timeoutMs = this.readyTimeoutMs): Promise<void> {
    await this.refresh();
    const offset = (info: string | null, field: string): string | undefined => new RegExp(`^${field}:(\\d+)`, 'm').exec(info ?? '')?.[1];
    await pollUntil(
      async () => {
        for (const replica of this.nodes.filter((n) => n.alive && n.role === 'replica')) {
          const master = this.nodes.find((n) => n.id === replica.masterId);
          if (master === undefined || !master.alive) continue;
          const want = offset(await this.ask(master, 'INFO', 'replication'), 'master_repl_offset');
          const have = offset(await this.ask(replica, 'INFO', 'replication'), 'slave_repl_offset');
          if (want === undefined || want !== have) return undefined;
        }
        return true;
      },
      'every replica to reach its master\'s replication offset',
      { timeoutMs, check: this.check },
    );
  }

  async killNode(node: RedisClusterNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(node);
    // Read the roles and slots first: waitForFailover needs what the node served.
    await this.refresh();
    n.expectedUp = false;
    await n.proc?.kill(signal);
  }

  async restartNode(node: RedisClusterNode): Promise<void> {
    const n = this.node(node);
    if (n.alive) throw new Error(`${n.address} is running: kill it before restartNode`);
    n.start();
    await this.waitClusterOk();
  }

  async reshard(from: string | RedisClusterNode, to: string | RedisClusterNode, slots: number): Promise<void> {
    const source = this.node(from);
    const target = this.node(to);
    await this.redisCli(['--cluster', 'reshard', target.address, '--cluster-from', source.id, '--cluster-to', target.id, '--cluster-slots', String(slots), '--cluster-yes']);
    await this.waitClusterOk();
  }

  async redisCli(args: readonly string[]): Promise<string> {
    const auth = this.password === undefined ? [] : ['-a', this.password, '--no-auth-warning'];
    const r = await runPeer('redis-cli', [...auth, ...args], undefined, CLI_TIMEOUT_MS);
    const stdout = r.stdout.toString('utf8');
    if (r.code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited with ${r.code}: ${(r.stderr + stdout).trim().slice(-2000)}`);
    return stdout;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const n of this.nodes) n.expectedUp = false;
    await Promise.all(this.nodes.map((n) => n.proc?.kill('SIGKILL')));
    removePeerDir(this.dir);
  }
}

async function layOut(count: number, dir: string, options: RedisClusterOptions): Promise<Node[]> {
  const ports = await freePorts(2 * count);
  const auth = options.password === undefined ? [] : ['--requirepass', options.password, '--masterauth', options.password];
  return Array.from({ length: count }, (_, i) => {
    const port = ports[2 * i] ?? 0;
    const busPort = ports[2 * i + 1] ?? 0;
    const nodeDir = path.join(dir, String(port));
    const args = [
      '--port', String(port),
      '--cluster-port', String(busPort),
      '--bind', HOST,
      '--dir', nodeDir,
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS),
      // A replica on a busy test machine may lag; let it fail over however old its data.
      '--cluster-replica-validity-factor', '0',
      // Redis 7 waits 5 s for more replicas before a diskless full sync; here they come one by one.
      '--repl-diskless-sync-delay', '0',
      '--appendonly', 'no',
      '--save', '',
      ...auth,
      ...(options.config ?? []).flatMap(([name, ...values]) => [`--${name}`, ...values]),
    ];
    return new Node(port, busPort, nodeDir, args);
  });
}

/**
 * A real Redis Cluster (Debian's redis-server 7.0) on free loopback ports, formed with
 * redis-cli --cluster create; resolves once every node says cluster_state:ok. Call stop()
 * (tests: redisClusterFixture in test/helpers) to kill the nodes and remove their dirs.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`redis-cli --cluster create needs at least 3 masters, not ${masters}`);
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`replicas is a count, not ${replicas}`);
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    const dir = makePeerDir('dualkv-redis-cluster-');
    const nodes = await layOut(masters * (1 + replicas), dir, options);
    const cluster = new Cluster(nodes, dir, options.password, readyTimeoutMs);
    try {
      for (const n of nodes) {
        mkdirSync(n.dir);
        n.start();
      }
      const check = (): void => nodes.forEach((n) => n.check());
      await pollUntil(async () => ((await Promise.all(nodes.map((n) => cluster.call(n, 'PING').catch(() => null)))).every((r) => r === 'PONG') ? true : undefined), 'every redis-server to answer PING', {
        timeoutMs: readyTimeoutMs,
        check,
      });
      await cluster.redisCli(['--cluster', 'create', ...cluster.seeds, '--cluster-replicas', String(replicas), '--cluster-yes']);
      await cluster.waitClusterOk();
      return cluster;
    } catch (err) {
      const lostAPort = nodes.some((n) => n.proc?.lostAPort);
      await cluster.stop();
      if (!lostAPort || attempt >= START_ATTEMPTS) throw err;
    }
  }
}
