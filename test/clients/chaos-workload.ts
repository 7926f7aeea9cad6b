import { randomInt, seededRandom } from '../../clients/lib/chaos-random.js';
import { UdpClient, type UdpClientEvent, type UdpClientOptions } from '../../clients/lib/udp-client.js';

/**
 * A seeded mixed PUT/GET/DEL workload from several UDP clients, checked against a
 * model as it runs. Each client owns its keys and runs one chain of operations
 * per key, one operation at a time per key, with all the chains of all the
 * clients running at once. So every reply has exactly one right answer (the
 * model's), and a write applied twice shows up: a DEL retried after it took
 * effect would answer NOT_FOUND, and a PUT replayed after a later DEL or PUT would
 * leave the wrong value for the next GET or for the final store.
 */
export interface WorkloadOptions {
  readonly port: number;
  readonly clients: number;
  readonly keysPerClient: number;
  readonly opsPerKey: number;
  readonly seed: number;
  readonly client: Omit<UdpClientOptions, 'port' | 'random' | 'onEvent'>;
  /** Runs after the last operation, before the sockets close, so late datagrams still reach the clients. */
  readonly beforeClose?: (badReplies: () => number) => Promise<void>;
}

export interface WorkloadResult {
  readonly ops: number;
  /** Replies that disagree with the model (empty when every write took effect exactly once). */
  readonly mismatches: string[];
  /** Operations that failed (a timeout, an error reply). */
  readonly failures: string[];
  /** The model: what the store must hold for the workload's keys. */
  readonly model: Map<string, string | undefined>;
  /** Replies the clients threw away as damaged (bad CRC, ...). */
  readonly badReplies: number;
  readonly retries: number;
  readonly refusals: number;
}

export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  const mismatches: string[] = [];
  const failures: string[] = [];
  const model = new Map<string, string | undefined>();
  let ops = 0;
  let badReplies = 0;
  let retries = 0;
  let refusals = 0;
  const onEvent = (e: UdpClientEvent) => {
    if (e.type === 'bad-reply') badReplies++;
    else if (e.type === 'send' && e.attempt > 1) retries++;
    else if (e.type === 'refused') refusals++;
  };
  const clients = await Promise.all(
    Array.from({ length: o.clients }, (_, c) => UdpClient.connect({ ...o.client, port: o.port, random: seededRandom(o.seed + 1000 + c), onEvent })),
  );
  try {
    const chains: Array<Promise<void>> = [];
    for (let c = 0; c < o.clients; c++) {
      const client = clients[c] as UdpClient;
      for (let k = 0; k < o.keysPerClient; k++) {
        const key = `c${c}:k${k}`;
        model.set(key, undefined);
        const r = seededRandom(o.seed + c * 7919 + k);
        chains.push(
          (async () => {
            for (let n = 0; n < o.opsPerKey; n++) {
              const roll = randomInt(r, 10);
              const want = model.get(key);
              ops++;
              try {
                if (roll < 4) {
                  const value = `${key}#${n}`;
                  await client.put(key, value);
                  model.set(key, value);
                } else if (roll < 8) {
                  const got = (await client.get(key))?.toString() ?? undefined;
                  if (got !== want) mismatches.push(`GET ${key} op ${n}: got ${got}, model ${want}`);
                } else {
                  const existed = await client.del(key);
                  if (existed !== (want !== undefined)) mismatches.push(`DEL ${key} op ${n}: got ${existed}, model ${want !== undefined}`);
                  model.set(key, undefined);
                }
              } catch (err) {
                failures.push(`${key} op ${n}: ${(err as Error).message}`);
                return; // the model no longer knows this key's state
              }
            }
          })(),
        );
      }
    }
    await Promise.all(chains);
    await o.beforeClose?.(() => badReplies);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return { ops, mismatches, failures, model, badReplies, retries, refusals };
}
