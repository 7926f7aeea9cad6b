import { accessSync, constants, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { CommandContext } from './commands/types.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './errors.js';
import { TcpFrontend } from './frontends/tcp.js';
import { UdpFrontend } from './frontends/udp.js';
import { Persistence } from './persistence/persistence.js';
import { ServerStats, type StatSection } from './stats.js';
import { Store } from './store/store.js';

/** Something the server starts after the store is ready and stops before it exits. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The wiring: one store, the shared command context, and the front-ends around
 * it. Nothing here reads bytes or runs commands itself.
 */
export class KvServer {
  readonly store = new Store();
  readonly stats = new ServerStats();
  readonly ctx: CommandContext;
  private tcp: TcpFrontend | null = null;
  /** The UDP front-end; public so that tests can wait on its 'rejected' events. */
  udp: UdpFrontend | null = null;
  private readonly services: Service[] = [];
  tcpPort = 0;
  udpPort = 0;
  private stopping: Promise<void> | null = null;

  constructor(
    readonly config: ServerConfig,
    readonly log: Logger,
    /** The root logger's counters (logger.ts), shown as INFO's logging section. */
    options: { logStats?: () => StatSection } = {},
  ) {
    const store = this.store;
    const stats = this.stats;
    this.ctx = {
      store,
      stats,
      limits: config.limits,
      configParams: () => this.configParams(),
      info: () => stats.snapshot({ keys: store.size }),
    };
    if (options.logStats) stats.registerSection('logging', options.logStats);
    if (config.persistence.enabled) {
      // Recovery runs in start(), before the listeners open; stop() ends with a final snapshot.
      const persistence = new Persistence({ dir: config.dataDir, ...config.persistence }, store, stats, log.child({ component: 'persistence' }));
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
      'udp-port': String(this.udpPort),
      dir: c.dataDir,
      databases: '1',
      maxclients: String(c.limits.maxConnections),
      'proto-max-bulk-len': String(c.limits.maxValueSize),
      'max-key-size': String(c.limits.maxKeySize),
      'max-value-size': String(c.limits.maxValueSize),
      'max-line-size': String(c.limits.maxLineSize),
      'client-output-buffer-limit': `normal ${c.limits.maxOutputBuffer} ${c.limits.maxOutputBuffer} 0`,
      appendonly: c.persistence.enabled ? 'yes' : 'no',
      appendfsync: c.persistence.fsync,
      save: c.persistence.enabled && c.persistence.snapshotIntervalSec > 0 ? `${c.persistence.snapshotIntervalSec} 1` : '',
      maxmemory: '0',
      timeout: '0',
    };
  }

  /** Prepares the data directory, loads data, then opens the listeners. Returns the bound ports. */
  async start(): Promise<{ tcpPort: number; udpPort: number }> {
    const c = this.config;
    // First, so that a --udp-io the machine cannot give is refused before recovery runs.
    this.udp = new UdpFrontend(this.ctx, this.log, { host: c.host, port: c.udpPort, logOps: c.logOps, udp: c.udp });
    if (c.persistence.enabled) prepareDataDir(c.dataDir);
    for (const service of this.services) await service.start();
    this.tcp = new TcpFrontend(this.ctx, this.log, { host: c.host, port: c.tcpPort, logOps: c.logOps });
    this.tcpPort = await this.tcp.listen();
    this.udpPort = await this.udp.listen();
    if (this.udp.ioFallbackReason !== null) {
      this.log.warn({ transport: 'udp', reason: this.udp.ioFallbackReason }, 'UDP runs on node:dgram, which is slower: the batched socket is not available');
    }
    return { tcpPort: this.tcpPort, udpPort: this.udpPort };
  }

  /** Stops accepting, finishes in-flight commands, closes clients and services. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([this.tcp?.close(this.config.shutdownTimeoutMs), this.udp?.close(this.config.shutdownTimeoutMs)]);
      for (const service of [...this.services].reverse()) {
        try {
          await service.stop();
        } catch (err) {
          this.log.error({ err, service: service.name }, 'service failed to stop cleanly');
        }
      }
    })();
    return this.stopping;
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
