import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freePorts } from './procs.js';
import { makePeerDir, PeerProcess, pollUntil, removePeerDir } from './peer-process.js';
import { runPeer } from './run-peer.js';

/** The etcd binary (Debian's etcd-server, 3.4) and its CLI (etcd-client). */
export const ETCD = { bin: 'etcd', pkg: 'etcd-server', ctl: 'etcdctl', ctlPkg: 'etcd-client' } as const;

/** Loopback's round trip is microseconds: a heartbeat this short is still 100 times it. */
const DEFAULT_HEARTBEAT_MS = 50;
/** etcd's tuning guide: an election timeout of about ten heartbeats. */
const DEFAULT_ELECTION_MS = 500;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
/** Starts that lost a port to another process before etcd bound it are retried this often. */
const START_ATTEMPTS = 3;
const STATUS_TIMEOUT_MS = 1_000;

export interface EtcdClusterOptions {
  /** How many members; an odd number (1 or 3), so that a majority is clear. Default 3. */
  members?: number;
  heartbeatMs?: number;
  electionMs?: number;
  /** How long start() and restart() wait for a healthy cluster. */
  readyTimeoutMs?: number;
  /** More etcd flags for every member, e.g. ['--max-request-bytes', '65536']. */
  extraArgs?: readonly string[];
}

/** A user for etcdctl's --user (and a client's username/password). */
export interface EtcdCredentials {
  readonly user: string;
  readonly password: string;
}

export interface EtcdMember {
  readonly name: string;
  /** 'http://127.0.0.1:port', also in EtcdCluster.endpoints. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The member ID in hex, as etcdctl prints it. */
  readonly id: string;
  /** The current process's; a restart changes it. */
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** The tail of what the current process logged (JSON lines, warnings and up). */
  readonly output: string;
}

export interface EtcdCluster {
  readonly endpoints: readonly string[];
  readonly members: readonly EtcdMember[];
  /** The member that leads, once it claims to and a majority of members follow it. */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Waits until every running member answers and all follow one leader. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Signals one member (SIGKILL: no clean shutdown) and waits for it to exit. */
  kill(member: EtcdMember, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a killed member again on its ports and data dir; waits until it follows the leader (when a majority runs). */
  restart(member: EtcdMember): Promise<void>;
  /** Runs etcdctl (API v3) against `endpoints` (default all) and returns its stdout; throws on a non-zero exit. */
  etcdctl(args: readonly string[], options?: { endpoints?: readonly string[]; auth?: EtcdCredentials }): Promise<string>;
  /** Kills every member and removes the data dirs. Always safe to call, also twice. */
  stop(): Promise<void>;
}

/** What the gRPC gateway's /v3/maintenance/status says; uint64s come as decimal strings. */
interface MemberStatus {
  header: { member_id: string };
  leader: string;
}

class Member implements EtcdMember {
  proc: PeerProcess | undefined;
  /** False once kill() stopped it on purpose, so an exit is no error. */
  expectedUp = false;
  id = '';

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
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

  start(): void {
    this.proc = PeerProcess.spawn(ETCD.bin, this.args, `etcd member ${this.name} (${this.clientUrl})`);
    this.expectedUp = true;
  }

  /** Throws if it died without being told to. */
  check(): void {
    if (this.expectedUp && this.proc !== undefined && !this.proc.alive) {
      throw this.proc.failure(this.proc.lostAPort ? 'could not bind its ports (taken by another process)' : 'exited');
    }
  }

  async status(): Promise<MemberStatus | null> {
    if (!this.alive) return null;
    try {
      const res = await fetch(`${this.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
      if (!res.ok) return null;
      const status = (await res.json()) as MemberStatus;
      this.id = BigInt(status.header.member_id).toString(16);
      return status;
    } catch {
      return null;
    }
  }
}

class Cluster implements EtcdCluster {
  readonly endpoints: readonly string[];
  private stopped = false;

  constructor(
    readonly members: readonly Member[],
    private readonly dir: string,
    private readonly readyTimeoutMs: number,
  ) {
    this.endpoints = members.map((m) => m.clientUrl);
  }

  private check = (): void => {
    if (this.stopped) throw new Error('the etcd cluster was stopped');
    for (const m of this.members) m.check();
  };

  private own(member: EtcdMember): Member {
    const m = this.members.find((x) => x === member);
    if (m === undefined) throw new Error(`${member.name} is not a member of this cluster`);
    return m;
  }

  private get quorum(): number {
    return Math.floor(this.members.length / 2) + 1;
  }

  /** Each running member's status, or null where it did not answer. */
  private async statuses(): Promise<Array<{ member: Member; status: MemberStatus | null }>> {
    const running = this.members.filter((m) => m.alive);
    return Promise.all(running.map(async (member) => ({ member, status: await member.status() })));
  }

  private describe(seen: Array<{ member: Member; status: MemberStatus | null }>): string {
    return seen.map(({ member, status }) => `${member.name}: ${status === null ? 'no answer' : `leader ${BigInt(status.leader).toString(16)}`}`).join(', ');
  }

  async leader(timeoutMs = this.readyTimeoutMs): Promise<EtcdMember> {
    let seen: Awaited<ReturnType<Cluster['statuses']>> = [];
    return pollUntil(
      async () => {
        seen = await this.statuses();
        const claim = seen.find(({ status }) => status !== null && status.leader !== '0' && status.leader === status.header.member_id);
        if (claim?.status == null) return undefined;
        const followers = seen.filter(({ status }) => status?.leader === claim.status?.leader).length;
        return followers >= this.quorum ? claim.member : undefined;
      },
      'an etcd leader that a majority follows',
      { timeoutMs, check: this.check, last: () => this.describe(seen) },
    );
  }

  async waitHealthy(timeoutMs = this.readyTimeoutMs): Promise<void> {
    let seen: Awaited<ReturnType<Cluster['statuses']>> = [];
    await pollUntil(
      async () => {
        seen = await this.statuses();
        if (seen.length < this.quorum) throw new Error(`only ${seen.length} of ${this.members.length} etcd members run: no majority, so no leader`);
        const leaders = new Set(seen.map(({ status }) => status?.leader ?? 'none'));
        const [leader] = leaders;
        if (leaders.size !== 1 || leader === undefined || leader === 'none' || leader === '0') return undefined;
        return seen.some(({ status }) => status?.header.member_id === leader) ? true : undefined;
      },
      'every running etcd member to answer and follow one leader',
      { timeoutMs, check: this.check, last: () => this.describe(seen) },
    );
  }

  async kill(member: EtcdMember, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.own(member);
    m.expectedUp = false;
    await m.proc?.kill(signal);
  }

  async restart(member: EtcdMember): Promise<void> {
    const m = this.own(member);
    if (m.alive) throw new Error(`etcd member ${m.name} is running: kill it before restart`);
    m.start();
    // With a majority running it must rejoin; without one there is no leader to follow.
    const running = this.members.filter((x) => x.alive).length;
    if (running >= this.quorum) await this.waitHealthy();
    else await pollUntil(async () => ((await m.status()) === null ? undefined : true), `etcd member ${m.name} to answer`, { timeoutMs: this.readyTimeoutMs, check: this.check });
  }

  async etcdctl(args: readonly string[], options: { endpoints?: readonly string[]; auth?: EtcdCredentials } = {}): Promise<string> {
    const auth = options.auth === undefined ? [] : ['--user', `${options.auth.user}:${options.auth.password}`];
    const endpoints = (options.endpoints ?? this.endpoints).join(',');
    const r = await runPeer(ETCD.ctl, ['--endpoints', endpoints, '--dial-timeout=2s', '--command-timeout=5s', ...auth, ...args]);
    const stdout = r.stdout.toString('utf8');
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim() || stdout.trim()}`);
    return stdout;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const m of this.members) m.expectedUp = false;
    // SIGKILL, not SIGTERM: a leader whose peers are gone spends seconds trying to hand over
    // leadership before it exits, and the data is thrown away anyway.
    await Promise.all(this.members.map((m) => m.proc?.kill('SIGKILL')));
    removePeerDir(this.dir);
  }
}

/** Lays out `count` members on fresh ports and data dirs under `dir`; a random token keeps two clusters from joining. */
async function layOut(count: number, dir: string, options: EtcdClusterOptions): Promise<Member[]> {
  const ports = await freePorts(2 * count);
  const urls = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    client: `http://127.0.0.1:${ports[2 * i] ?? 0}`,
    peer: `http://127.0.0.1:${ports[2 * i + 1] ?? 0}`,
  }));
  const initialCluster = urls.map((u) => `${u.name}=${u.peer}`).join(',');
  const token = `dualkv-test-${randomBytes(6).toString('hex')}`;
  return urls.map((u) => {
    const dataDir = path.join(dir, u.name);
    // The data dir holds the membership once formed: a restart ignores the --initial-* flags.
    const args = [
      '--name', u.name,
      '--data-dir', dataDir,
      '--listen-client-urls', u.client,
      '--advertise-client-urls', u.client,
      '--listen-peer-urls', u.peer,
      '--initial-advertise-peer-urls', u.peer,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--heartbeat-interval', String(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS),
      '--election-timeout', String(options.electionMs ?? DEFAULT_ELECTION_MS),
      // A restarted member asks before it campaigns, so it does not depose a working leader.
      '--pre-vote',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', 'warn',
      ...(options.extraArgs ?? []),
    ];
    return new Member(u.name, u.client, u.peer, dataDir, args);
  });
}

/**
 * A real etcd cluster (Debian's etcd 3.4) on free loopback ports, each member with its own
 * data dir under one temp dir; resolves once every member answers and follows one leader.
 * Call stop() (tests: etcdClusterFixture in test/helpers) to kill the members and remove the dirs.
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 3;
  if (!Number.isInteger(count) || count < 1 || count % 2 === 0) throw new Error(`an etcd cluster for tests has an odd number of members (1 or 3), not ${count}`);
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    const dir = makePeerDir('dualkv-etcd-');
    const cluster = new Cluster(await layOut(count, dir, options), dir, readyTimeoutMs);
    for (const m of cluster.members) m.start();
    try {
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      const lostAPort = cluster.members.some((m) => m.proc?.lostAPort);
      await cluster.stop();
      if (!lostAPort || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

/**
 * Turns on etcd's authentication: a root user (with the root role, as `auth enable` needs),
 * a role with read and write on `prefix` (default: every key), and a user with that role.
 * After this, every etcdctl call needs `auth`.
 */
export async function enableEtcdAuth(
  cluster: EtcdCluster,
  options: { user?: string; password?: string; rootPassword?: string; prefix?: string; role?: string } = {},
): Promise<{ root: EtcdCredentials; user: EtcdCredentials }> {
  const root = { user: 'root', password: options.rootPassword ?? randomBytes(12).toString('hex') };
  const user = { user: options.user ?? 'dualkv', password: options.password ?? randomBytes(12).toString('hex') };
  const role = options.role ?? 'dualkv-rw';
  // etcdctl reads "name:password" and splits at the first colon.
  if (user.user.includes(':')) throw new Error(`an etcd user name for etcdctl may not hold ':' (${user.user})`);
  const keys = options.prefix === undefined ? ['--from-key', ''] : [options.prefix, '--prefix=true'];
  await cluster.etcdctl(['user', 'add', `${root.user}:${root.password}`]);
  await cluster.etcdctl(['user', 'grant-role', root.user, 'root']);
  await cluster.etcdctl(['role', 'add', role]);
  await cluster.etcdctl(['role', 'grant-permission', role, 'readwrite', ...keys]);
  await cluster.etcdctl(['user', 'add', `${user.user}:${user.password}`]);
  await cluster.etcdctl(['user', 'grant-role', user.user, role]);
  await cluster.etcdctl(['auth', 'enable']);
  return { root, user };
}
