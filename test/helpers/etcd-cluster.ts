/**
 * The etcd cluster fixture for tests: the cluster itself is bench/lib/etcd-cluster.ts,
 * shared with the gateway benchmark; this adds the skip rule and the vitest lifecycle.
 */
import { ETCD, startEtcdCluster, type EtcdCluster, type EtcdClusterOptions } from '../../bench/lib/etcd-cluster.js';
import { clusterFixture } from './cluster-fixture.js';
import { havePeer } from './peers.js';

export * from '../../bench/lib/etcd-cluster.js';

/** For `describe.skipIf(!haveEtcd())`: etcd and etcdctl are installed (under CI, or the run fails; see havePeer). */
export function haveEtcd(): boolean {
  return havePeer(ETCD.bin, ETCD.pkg) && havePeer(ETCD.ctl, ETCD.ctlPkg);
}

/** startEtcdCluster for a describe block: each cluster is stopped after the test (or, from beforeAll, the block) that started it. */
export function etcdClusterFixture(): { start(options?: EtcdClusterOptions): Promise<EtcdCluster> } {
  const fixture = clusterFixture((options: EtcdClusterOptions = {}) => startEtcdCluster(options));
  return { start: (options = {}) => fixture.start(options) };
}
