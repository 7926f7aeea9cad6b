/**
 * bench:multi's load: `connections` ioredis clients, each keeping `inflight`
 * transactions (MULTI, `sets` SETs, EXEC, sent as one write by ioredis) in flight,
 * until `transactions` are done or `maxMs` has passed. Every EXEC's replies are
 * checked, and afterwards a sample of transactions is read back with MGET; any
 * difference throws, since a figure for a server that lost writes means nothing.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createHistogram, recordMs, summarize, type LatencySummary } from '../../clients/lib/bench/latency.js';
import { checkExecReplies, checkReadBack, transactionWrites } from './exec-replies.js';

export interface MultiLoadOptions {
  readonly port: number;
  readonly connections: number;
  /** Transactions each connection keeps in flight. */
  readonly inflight: number;
  /** Most transactions in the run (all connections together). */
  readonly transactions: number;
  /** Most time the run may take; transactions in flight then still finish. */
  readonly maxMs: number;
  readonly sets: number;
  /** Keys are `${prefix}:${id}:${j}`: a run's own prefix keeps runs apart in one server. */
  readonly prefix: string;
  /** Transactions read back after the run. */
  readonly sample: number;
}

export interface MultiLoadResult {
  readonly completed: number;
  readonly elapsedMs: number;
  /** Microseconds from exec() called to its replies checked. */
  readonly latency: LatencySummary;
  /** This process's CPU time over the run, in percent of one core: ioredis can be the bottleneck. */
  readonly clientCpuPercent: number;
  readonly sampled: number;
}

/** Connects `count` clients; none retries or queues, and a command waits at most 10 s. */
export async function connectClients(port: number, count: number): Promise<Redis[]> {
  const clients: Redis[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const c = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        enableOfflineQueue: false,
        commandTimeout: 10_000,
      });
      clients.push(c);
      await c.connect();
    }
    return clients;
  } catch (err) {
    for (const c of clients) c.disconnect();
    throw err;
  }
}

export async function runMultiLoad(o: MultiLoadOptions): Promise<MultiLoadResult> {
  const clients = await connectClients(o.port, o.connections);
  try {
    const hist = createHistogram();
    let issued = 0;
    let completed = 0;
    let failure: Error | null = null;
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const deadline = start + o.maxMs;

    const lane = async (client: Redis) => {
      while (failure === null && issued < o.transactions && performance.now() < deadline) {
        const id = issued++;
        const tx = client.multi();
        for (const [k, v] of transactionWrites(o.prefix, id, o.sets)) tx.set(k, v);
        const t0 = performance.now();
        const result = await tx.exec();
        recordMs(hist, performance.now() - t0);
        const wrong = checkExecReplies(result, o.sets);
        if (wrong !== null) throw new Error(`transaction ${id} (${o.prefix}): ${wrong}`);
        completed++;
      }
    };
    const lanes = clients.flatMap((c) =>
      Array.from({ length: o.inflight }, () =>
        lane(c).catch((err: Error) => {
          failure ??= err;
        }),
      ),
    );
    await Promise.all(lanes);
    const elapsedMs = performance.now() - start;
    const cpu = process.cpuUsage(cpuBefore);
    if (failure !== null) throw failure;

    const sampled = await checkSample(clients[0] as Redis, o, completed);
    const latency = summarize(hist);
    hist.destroy();
    return { completed, elapsedMs, latency, clientCpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / elapsedMs, sampled };
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** MGETs the keys of up to `o.sample` transactions picked at random among ids 0..completed-1. */
async function checkSample(client: Redis, o: MultiLoadOptions, completed: number): Promise<number> {
  const ids = new Set<number>();
  while (ids.size < Math.min(o.sample, completed)) ids.add(Math.floor(Math.random() * completed));
  for (const id of ids) {
    const writes = transactionWrites(o.prefix, id, o.sets);
    const read = await client.mget(...writes.map(([k]) => k));
    const wrong = checkReadBack(writes, read);
    if (wrong !== null) throw new Error(`read back after the run (${o.prefix}), transaction ${id}: ${wrong}`);
  }
  return ids.size;
}
