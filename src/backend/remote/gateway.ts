import type { Logger } from 'pino';
import type { BackendConfig } from '../backend-config.js';
import { EtcdEngine } from '../etcd/etcd-engine.js';
import { RedisClusterEngine } from '../redis-cluster/redis-cluster-engine.js';
import type { StatSection } from '../../stats.js';
import type { Engine } from './engine.js';
import { RemoteBackend } from './remote-backend.js';

/** The engine a remote backend config names. */
export function createEngine(config: Exclude<BackendConfig, { kind: 'memory' }>): Engine {
  return config.kind === 'etcd' ? new EtcdEngine(config.etcd) : new RedisClusterEngine(config.redisCluster);
}

/**
 * A gateway's backend as a server service: it starts looking at the engine (the
 * gateway starts whether or not the engine is up, and is ready once it answers), logs
 * when the engine comes and goes, and closes the engine's connections at stop.
 */
export class GatewayService {
  readonly name = 'gateway';
  readonly writesNotOnDisk = 0;
  readonly backend: RemoteBackend;

  constructor(
    engine: Engine,
    private readonly log: Logger,
  ) {
    this.backend = new RemoteBackend(engine, {
      health: {
        ready: (name) => log.info({ backend: name, engine: engine.describe() }, 'backend reachable: the gateway is ready'),
        lost: (name, reason) => log.warn({ backend: name, engine: engine.describe(), reason }, 'backend not reachable: commands fail until it is back (the gateway reconnects by itself)'),
      },
    });
    log.info({ backend: engine.name, engine: engine.describe() }, 'gateway: the data lives in a remote engine; this server keeps none');
  }

  async start(): Promise<void> {
    this.backend.start();
  }

  async stop(): Promise<{ writesNotOnDisk: number; problem: string | null }> {
    try {
      await this.backend.close();
      return { writesNotOnDisk: 0, problem: null };
    } catch (err) {
      this.log.warn({ err }, 'closing the connections to the backend failed');
      return { writesNotOnDisk: 0, problem: `backend: ${(err as Error).message}` };
    }
  }

  /** INFO's # Backend section. */
  section(): StatSection {
    const h = this.backend.health;
    return {
      backend: this.backend.engine.name,
      backend_status: h.ready ? 'ready' : 'unavailable',
      backend_reason: h.ready ? '' : h.status.replace(/[\r\n]/g, ' '),
      backend_failed_checks: h.failures,
    };
  }
}
