/**
 * dualkv gateways for the gateway benchmarks: real kv-server processes (the built dist/)
 * over a remote backend, started and waited on until their engine answers.
 */
import { track } from './cleanup.js';
import { startKvServer, type Proc } from './procs.js';
import { RespQuery } from './resp-query.js';

/** How long a gateway may take to reach its engine (its health check looks every second). */
const READY_TIMEOUT_MS = 30_000;

/**
 * Starts `count` gateways, one after another, each with `backendArgs` (e.g. `--backend etcd
 * --etcd-endpoints …`) and `extraArgs`; resolves once every one answers a GET, which a
 * gateway refuses (-CLUSTERDOWN) until its engine does.
 */
export async function startGateways(count: number, backendArgs: readonly string[], extraArgs: readonly string[] = []): Promise<Array<Proc & { dir: string }>> {
  const gateways: Array<Proc & { dir: string }> = [];
  for (let i = 0; i < count; i++) {
    const gw = track(await startKvServer([...backendArgs, ...extraArgs]));
    gateways.push(gw);
    await waitEngineReachable(gw.port);
  }
  return gateways;
}

async function waitEngineReachable(port: number): Promise<void> {
  const conn = await RespQuery.open(port);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  try {
    for (;;) {
      try {
        await conn.query('GET', 'dualkv-bench:ready');
        return;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the gateway on port ${port} did not reach its engine within ${READY_TIMEOUT_MS} ms; last reply: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    conn.close();
  }
}
