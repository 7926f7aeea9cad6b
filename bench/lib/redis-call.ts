import { Redis } from 'ioredis';

/** A node that does not answer within this is taken as down. */
const CALL_TIMEOUT_MS = 1_000;

/**
 * Sends one command to one redis-server on a connection of its own (no cluster redirects,
 * no retries, no offline queue) and returns the reply; rejects if the node is down or refuses.
 * A connection per call: a fixture asks nodes that it kills and restarts between calls.
 */
export async function callRedis(node: { host: string; port: number }, password: string | undefined, args: ReadonlyArray<string | number>): Promise<unknown> {
  const [command, ...rest] = args;
  if (command === undefined) throw new Error('callRedis needs a command');
  const client = new Redis({
    host: node.host,
    port: node.port,
    password,
    lazyConnect: true,
    connectTimeout: CALL_TIMEOUT_MS,
    commandTimeout: CALL_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined); // the rejected connect() or command says it
  try {
    await client.connect();
    return await client.call(String(command), ...rest.map(String));
  } finally {
    client.disconnect();
  }
}
