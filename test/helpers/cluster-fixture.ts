import { afterAll, afterEach, beforeEach } from 'vitest';

/**
 * The vitest fixture for a describe block of real clusters (etcd, Redis Cluster): `start()`
 * starts one, and it is stopped after the test that started it, or, when started in
 * `beforeAll`, after the block. Clusters take seconds to form, so a block may share one.
 */
export function clusterFixture<Options, Cluster extends { stop(): Promise<void> }>(
  startCluster: (options: Options) => Promise<Cluster>,
): { start(options: Options): Promise<Cluster> } {
  const perFile: Cluster[] = [];
  const perTest: Cluster[] = [];
  let inTest = false;
  beforeEach(() => {
    inTest = true;
  });
  afterEach(async () => {
    inTest = false;
    await stopAll(perTest.splice(0));
  });
  afterAll(async () => {
    await stopAll(perFile.splice(0));
  });
  return {
    async start(options) {
      const cluster = await startCluster(options);
      (inTest ? perTest : perFile).push(cluster);
      return cluster;
    },
  };
}

async function stopAll(clusters: Array<{ stop(): Promise<void> }>): Promise<void> {
  const results = await Promise.allSettled(clusters.map((c) => c.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
