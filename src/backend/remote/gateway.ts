import type { Logger } from 'pino';
import { describeEtcd, describeRedisCluster, type BackendConfig } from '../backend-config.js';
import { recordsWhere, requestPrefixFor } from '../etcd/request-prefix.js';
import { keySlot } from '../redis-cluster/key-slot.js';
import type { StatSection } from '../../stats.js';
import type { Engine } from './engine.js';
import { LazyEngine } from './lazy-engine.js';
import { RemoteBackend } from './remote-backend.js';

/** The engine a remote backend config names; its module loads when this is called (lazy-engine.ts). */
export function createEngine(config: Exclude<BackendConfig, { kind: 'memory' }>): Engine {
  if (config.kind === 'etcd') {
    const s = config.etcd;
    const facts = { name: 'etcd', describe: describeEtcd(s), keyGroup: null, watches: true, requestRecords: recordsWhere(s.requestPrefix ?? requestPrefixFor(s.prefix)) } as const;
    return new LazyEngine(facts, () => import('../etcd/etcd-engine.js').then((m) => new m.EtcdEngine(s)));
  }
  const s = config.redisCluster;
  const facts = { name: 'redis-cluster', describe: describeRedisCluster(s), keyGroup: keySlot, watches: false, requestRecords: null } as const;
  return new LazyEngine(facts, () => import('../redis-cluster/redis-cluster-engine.js').then((m) => new m.RedisClusterEngine(s)));
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
