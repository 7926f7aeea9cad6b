import { accessSync, constants, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { Credentials } from './auth/access-control.js';
import { exposedWithoutCredentials, protectedMode } from './auth/protected-mode.js';
import { Clients } from './commands/client-registry.js';
import { Monitors } from './commands/monitor.js';
import type { CommandContext } from './commands/types.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './errors.js';
import { ClientMemoryCap } from './frontends/client-memory.js';
import { TcpFrontend } from './frontends/tcp/tcp-frontend.js';
import { RejectLogLimiter } from './log-limiter.js';
import type { Frontend } from './frontends/frontend.js';
import { UdpFrontend } from './frontends/udp/udp-frontend.js';
import type { HttpFrontend } from './frontends/http/http-frontend.js';
import { loadSecureContext, tlsServerOptions } from './frontends/tls-settings.js';
import { MemoryBudget, resolveMemoryLimits } from './memory.js';
import type { ServerMetrics } from './metrics/server-metrics.js';
import { Persistence } from './persistence/persistence.js';
import { formatSize } from './sizes.js';
import { ServerStats, type StatSection } from './stats.js';
import type { StopOptions } from './stop-options.js';
import { Evictor } from './backend/memory/eviction.js';
import { MemoryBackend } from './backend/memory/memory-backend.js';
import { createEngine, GatewayService } from './backend/remote/gateway.js';
import type { Backend } from './backend/types.js';

/** How a stop went: what the exit code is made of (src/main.ts). */
export interface StopReport {
  /** Acknowledged writes that are not on disk. */
  readonly writesNotOnDisk: number;
  /** What did not complete (a failed flush, the final snapshot, …); empty after a clean stop. */
  readonly problems: readonly string[];
}

/** Something the server starts after the store is ready and stops before it exits. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  /** Stops by `deadline` (ms since the epoch), as `options` say. Resolves, even when it fails, with what it could not do. */
  stop(deadline: number, options: StopOptions): Promise<{ readonly writesNotOnDisk: number; readonly problem: string | null }>;
  /** Acknowledged writes not on disk right now (for a stop that runs out of time). */
  readonly writesNotOnDisk: number;
}

/** Options a KvServer may be built with beyond its configuration. */
export interface KvServerOptions {
  /** From the root logger (logger.ts): its counters, shown as INFO's logging section. */
  readonly logStats?: () => StatSection;
  /** The bytes the root logger's backlog holds, which --maxmemory counts. */
  readonly logBacklogBytes?: () => number;
  /** The data's clock, ms since the epoch (tests move time with it; expiry follows it). */
  readonly clock?: () => number;
  /** Whether the active expiry sweep runs (default: yes; tests turn it off to see lazy expiry alone). */
  readonly activeExpiry?: boolean;
}

/**
 * The share of --shutdown-timeout that clients get to collect their replies; the rest
 * is for the final flush and snapshot, which must not be starved by a client that
 * never reads.
 */
export const CLIENT_SHUTDOWN_SHARE = 0.5;

/** Warn lines about clients cut by --maxmemory-clients, at most this many a second. */
const CLIENT_EVICTION_LOG_PER_SECOND = 10;

/**
 * The wiring: one backend, the shared command context, the services (persistence)
 * and the front-ends around it. Nothing here reads bytes or runs commands itself.
 */
export class KvServer {
  /** The memory backend: the data, unless --backend names a remote engine (then it stays empty and unused). */
  readonly backend: MemoryBackend;
  /** What the commands run against: the memory backend, or the gateway's remote one. */
  readonly store: Backend;
  /** With a remote --backend: the gateway's link to its engine; null for the memory backend. */
  readonly gateway: GatewayService | null;
  readonly stats = new ServerStats();
  readonly memory: MemoryBudget;
  readonly ctx: CommandContext;
  private tcp: TcpFrontend | null = null;
  /** The users (README "Authentication"); loaded at start, reread on SIGHUP. */
  readonly credentials: Credentials;
  /** --maxmemory-clients over every stream client, TCP and HTTP. */
  private readonly clientMemory: ClientMemoryCap;
  private readonly clientEvictionLog = new RejectLogLimiter(CLIENT_EVICTION_LOG_PER_SECOND);
  /** The UDP front-end; public so that tests can wait on its 'rejected' events. */
  udp: UdpFrontend | null = null;
  private readonly services: Service[] = [];
  /** The front-ends, in the order they open. */
  private frontends: Frontend[] = [];
  /** The TLS and HTTPS front-ends, whose certificates SIGHUP reloads. */
  private secureFrontends: Array<TcpFrontend | HttpFrontend> = [];
  /** Each front-end's bound port, by its name. */
  readonly ports = new Map<string, number>();
  private stopping: Promise<StopReport> | null = null;
  private readonly activeExpiry: boolean;
  /** The Prometheus registry behind GET /metrics; made only with an HTTP front-end (null before start or without --http-port). */
  metrics: ServerMetrics | null = null;

  constructor(
    readonly config: ServerConfig,
    readonly log: Logger,
    options: KvServerOptions = {},
  ) {
    const backend = new MemoryBackend({ clock: options.clock });
    this.backend = backend;
    const remote = config.backend.kind === 'memory' ? null : config.backend;
    if (remote !== null && config.memory.policy !== 'noeviction') {
      throw new ConfigError(`--maxmemory-policy ${config.memory.policy} needs the memory backend: with --backend ${remote.kind} the engine holds the data and its own memory limit (README "Gateways")`);
    }
    this.gateway = remote === null ? null : new GatewayService(createEngine(remote), log.child({ component: 'gateway' }));
    this.store = this.gateway?.backend ?? backend;
    // The sweep walks the memory backend's keys: a gateway has none (the engine expires its own).
    this.activeExpiry = (options.activeExpiry ?? true) && remote === null;
    const stats = this.stats;
    this.credentials = new Credentials(config.auth, stats, log.child({ component: 'auth' }));
    this.memory = new MemoryBudget(resolveMemoryLimits(config.memory, config.persistence.enabled), backend, (fields, msg) => log.warn(fields, msg));
    if (config.memory.policy !== 'noeviction') {
      const evictor = new Evictor(backend, config.memory.policy, config.memory.samples);
      this.memory.setEvictor((bytes) => evictor.evict(bytes), config.memory.policy, () => backend.keyspaceInfo().evictedKeys);
      this.memory.register({ name: 'mem_eviction_access_clock', bytes: () => backend.access?.bytes ?? 0 });
    }
    this.clientMemory = new ClientMemoryCap(this.memory.limits.maxmemoryClients, (conn, bytes, total) => {
      stats.evictedClients++;
      const suppressed = this.clientEvictionLog.admit();
      if (suppressed === null) return;
      log.warn(
        { client: conn.client, conn: conn.id, bytes, totalBytes: total, limit: this.memory.limits.maxmemoryClients, suppressed: suppressed || undefined },
        'client memory limit reached (--maxmemory-clients); disconnecting the client holding the most',
      );
    });
    this.memory.register({ name: 'mem_clients_normal', bytes: () => this.clientMemory.total });
    this.memory.register({ name: 'mem_change_log', bytes: () => backend.changeLogBytes });
    this.memory.register({ name: 'mem_udp_reply_cache', bytes: () => this.udp?.replyCacheBytes ?? 0 });
    if (options.logBacklogBytes) this.memory.register({ name: 'mem_log_backlog', bytes: options.logBacklogBytes });
    stats.registerSection('memory', () => this.memory.section());
    this.ctx = {
      backend: this.store,
      stats,
      limits: config.limits,
      memory: this.memory,
      reportInternalError: (err, command) => log.error({ err, cmd: command.toUpperCase() }, 'internal error while running a command; the client got an error reply'),
      configParams: () => this.configParams(),
      info: () =>
        stats.snapshot(this.store.keyspaceInfo(), {
          tcpPort: this.tcpPort,
          maxclients: this.tcp?.maxConnections ?? config.limits.maxConnections,
          clientBuffers: () => this.clientMemory.largestBuffers(),
        }),
      clients: new Clients(),
      monitors: new Monitors(),
      access: this.credentials,
      protectedMode: protectedMode(config.auth.protectedMode, () => this.credentials.required),
    };
    if (options.logStats) stats.registerSection('logging', options.logStats);
    if (this.gateway !== null) {
      const gateway = this.gateway;
      this.services.push(gateway);
      stats.registerSection('backend', () => gateway.section());
    }
    if (config.persistence.enabled) {
      // Recovery runs in start(), before the listeners open; stop() ends with a final snapshot.
      const persistence = new Persistence({ dir: config.dataDir, ...config.persistence }, backend, stats, log.child({ component: 'persistence' }));
      this.services.push(persistence);
      this.ctx.save = () => persistence.save();
    }
  }

  /** CONFIG GET's view of the settings, under the names Redis users know where one exists. */
  private configParams(): Record<string, string> {
    const c = this.config;
    return {
      bind: c.host,
      port: String(this.tcpPort),
      'tls-port': String(this.tlsPort),
      'udp-port': String(this.udpPort),
      dir: c.dataDir,
      databases: '1',
      maxclients: String(this.tcp?.maxConnections ?? c.limits.maxConnections),
      'proto-max-bulk-len': String(c.limits.maxValueSize),
      'max-key-size': String(c.limits.maxKeySize),
      'max-value-size': String(c.limits.maxValueSize),
      'max-line-size': String(c.limits.maxLineSize),
      'client-output-buffer-limit': `normal ${c.limits.maxOutputBuffer} ${c.limits.maxOutputBuffer} 0`,
      'client-query-buffer-limit': String(c.limits.maxQueryBuffer),
      appendonly: c.persistence.enabled ? 'yes' : 'no',
      appendfsync: c.persistence.fsync,
      save: c.persistence.enabled && c.persistence.snapshotIntervalSec > 0 ? `${c.persistence.snapshotIntervalSec} 1` : '',
      maxmemory: String(this.memory.limits.maxmemory),
      'maxmemory-clients': String(this.memory.limits.maxmemoryClients),
      'maxmemory-policy': c.memory.policy,
      'maxmemory-samples': String(c.memory.samples),
      timeout: String(c.limits.idleTimeoutSec),
      // Redis parameters whose value dualkv has too: no daemon, no replication, Redis's default hz.
      daemonize: 'no',
      replicaof: '',
      slaveof: '',
      hz: '10',
    };
  }

  /** The bound TCP port (0 before start). */
  get tcpPort(): number {
    return this.ports.get('tcp') ?? 0;
  }

  get udpPort(): number {
    return this.ports.get('udp') ?? 0;
  }

  /** The bound HTTP port; 0 before start or without --http-port. */
  get httpPort(): number {
    return this.ports.get('http') ?? 0;
  }

  /** The bound TLS port (README "TLS"); 0 before start or without --tls-port. */
  get tlsPort(): number {
    return this.ports.get('tls') ?? 0;
  }

  /** The bound HTTPS port; 0 before start or without --https-port. */
  get httpsPort(): number {
    return this.ports.get('https') ?? 0;
  }

  /** Prepares the data directory, loads data, then opens the listeners. Returns the bound ports. */
  async start(): Promise<{ tcpPort: number; udpPort: number }> {
    const c = this.config;
    // First: every front-end asks who its sessions start as.
    this.credentials.start();
    if (!this.credentials.required && exposedWithoutCredentials(c.host)) {
      this.log.warn(
        { host: c.host, protectedMode: c.auth.protectedMode },
        c.auth.protectedMode
          ? 'listening on a non-loopback address with no credentials: protected mode serves only loopback clients (set --requirepass or --users-file to serve others)'
          : 'listening on a non-loopback address with no credentials and --no-protected-mode: anyone who can reach these ports can read and write everything',
      );
    }
    if (c.auth.requirepass !== null || c.auth.usersFile !== null) this.log.info({ users: this.credentials.userNames().length, from: c.auth.usersFile ?? '--requirepass' }, 'authentication required');
    // Before recovery, so that a --udp-io the machine cannot give is refused before any data is read.
    this.udp = new UdpFrontend(this.ctx, this.log, { host: c.host, port: c.udpPort, logOps: c.logOps, udp: c.udp, keys: this.credentials });
    this.tcp = new TcpFrontend(this.ctx, this.log, { host: c.host, port: c.tcpPort, logOps: c.logOps, clientMemory: this.clientMemory });
    // The front-ends, in the order they open: a new one is one more line here.
    this.frontends = [this.tcp, this.udp];
    const secure = c.tls === null ? undefined : tlsServerOptions(c.tls, loadSecureContext(c.tls));
    if (secure !== undefined && c.tls?.port != null) {
      const tcpOptions = { host: c.host, port: c.tls.port, logOps: c.logOps, clientMemory: this.clientMemory, tls: secure, name: 'tls' as const };
      this.secureFrontends.push(new TcpFrontend(this.ctx, this.log, tcpOptions));
    }
    const httpPorts: Array<{ port: number; tls?: typeof secure }> = [];
    if (c.httpPort !== null) httpPorts.push({ port: c.httpPort });
    if (secure !== undefined && c.tls?.httpsPort != null) httpPorts.push({ port: c.tls.httpsPort, tls: secure });
    if (httpPorts.length > 0) {
      // HTTP's code and prom-client are loaded only when there is an HTTP port: a start without one is shorter.
      const [{ HttpFrontend }, { ServerMetrics }] = await Promise.all([import('./frontends/http/http-frontend.js'), import('./metrics/server-metrics.js')]);
      const info = this.ctx.info;
      const metrics = new ServerMetrics({ stats: this.stats, info: () => info(), keyspace: () => this.store.keyspaceInfo() });
      this.metrics = metrics;
      const maxConnections = this.tcp.maxConnections;
      for (const { port, tls } of httpPorts) {
        const http = new HttpFrontend(this.ctx, this.log, { host: c.host, port, logOps: c.logOps, metrics, clientMemory: this.clientMemory, maxConnections, tls });
        if (tls !== undefined) this.secureFrontends.push(http);
        else this.frontends.push(http);
      }
    }
    this.frontends.push(...this.secureFrontends);
    if (c.persistence.enabled) prepareDataDir(c.dataDir);
    const m = this.memory.limits;
    this.log.info(
      {
        maxmemory: m.maxmemory,
        maxmemoryHuman: m.maxmemory > 0 ? formatSize(m.maxmemory) : 'no limit',
        how: m.how,
        maxmemoryClients: m.maxmemoryClients,
        heapSizeLimit: this.memory.heapSizeLimit,
      },
      'memory limit',
    );
    this.memory.start();
    for (const service of this.services) await service.start();
    if (this.activeExpiry) this.backend.startActiveExpiry();
    for (const f of this.frontends) this.ports.set(f.name, await f.listen());
    if (this.udp.ioFallbackReason !== null) {
      this.log.warn({ transport: 'udp', reason: this.udp.ioFallbackReason }, 'UDP runs on node:dgram, which is slower: the batched socket is not available');
    }
    return { tcpPort: this.tcpPort, udpPort: this.udpPort };
  }

  /**
   * Stops accepting, finishes in-flight commands, closes clients, then stops the services
   * (persistence: flush, final snapshot unless `options` skip it, unlock), all within
   * --shutdown-timeout. Clients still open after their share of it are cut. Never rejects.
   * Safe to call twice: the first call's options hold.
   */
  stop(options: StopOptions = {}): Promise<StopReport> {
    this.stopping ??= (async () => {
      const timeout = this.config.shutdownTimeoutMs;
      const deadline = Date.now() + timeout;
      const clientsMs = Math.floor(timeout * CLIENT_SHUTDOWN_SHARE);
      const frontends = await Promise.allSettled(this.frontends.map((f) => f.close(clientsMs)));
      for (const f of frontends) if (f.status === 'rejected') this.log.error({ err: f.reason as unknown }, 'a front-end failed to close cleanly');
      let writesNotOnDisk = 0;
      const problems: string[] = [];
      for (const service of [...this.services].reverse()) {
        try {
          const r = await service.stop(deadline, options);
          writesNotOnDisk += r.writesNotOnDisk;
          if (r.problem !== null) problems.push(r.problem);
        } catch (err) {
          this.log.error({ err, service: service.name }, 'service failed to stop cleanly');
          problems.push(`${service.name}: ${(err as Error).message}`);
        }
      }
      this.memory.stop();
      this.backend.stopActiveExpiry();
      return { writesNotOnDisk, problems };
    })();
    return this.stopping;
  }

  /**
   * SIGHUP: rereads the users file and the TLS certificate, key and CA. What fails to load
   * leaves what there was; open TLS connections keep the certificate they were made with.
   */
  reload(): void {
    if (this.config.auth.usersFile !== null && this.credentials.reload().ok) this.applyUsers();
    if (this.config.tls !== null && this.secureFrontends.length > 0) this.reloadTls(this.config.tls);
  }

  /**
   * After the users were reread: a client authenticated as a user who is gone is
   * disconnected (as Redis's ACL LOAD does), and one whose permission changed has the new one.
   */
  private applyUsers(): void {
    let cut = 0;
    for (const s of [...(this.ctx.clients?.sessions() ?? [])]) {
      if (s.user === null) continue;
      const now = this.credentials.lookup(s.user.name);
      if (now === null) {
        s.conn?.kill();
        cut++;
      } else if (now.permission !== s.user.permission) {
        s.user = now;
      }
    }
    if (cut > 0) this.log.info({ clients: cut }, 'disconnected the clients of users the reloaded file no longer has');
  }

  private reloadTls(tls: NonNullable<ServerConfig['tls']>): void {
    const files = { cert: tls.cert, key: tls.key, ca: tls.ca };
    let context;
    try {
      context = loadSecureContext(tls);
    } catch (err) {
      this.log.error({ ...files, error: (err as Error).message }, 'TLS certificates not reloaded: the ones loaded before stay in force');
      return;
    }
    for (const f of this.secureFrontends) f.setSecureContext(context);
    this.log.info({ ...files, listeners: this.secureFrontends.map((f) => f.name) }, 'TLS certificates reloaded');
  }

  /** What SHUTDOWN calls: the host's own stop (kv-server's, as on SIGTERM), with NOSAVE's or SAVE's options. Without it SHUTDOWN is refused. */
  onShutdownRequest(handler: (reason: string, options: StopOptions) => void): void {
    this.ctx.requestShutdown = handler;
  }

  /** Acknowledged writes not on disk right now, for a stop that does not finish in time. */
  get writesNotOnDisk(): number {
    return this.services.reduce((n, s) => n + s.writesNotOnDisk, 0);
  }
}

function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (err) {
    throw new ConfigError(`data directory ${dir} cannot be used: ${(err as Error).message}; check the path and its permissions`, {
      cause: err,
    });
  }
}
