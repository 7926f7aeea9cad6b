/** The HTTP load of bench/http-vs-webdis.ts: a preload of the keys, then autocannon runs. */
import http from 'node:http';
import autocannon from 'autocannon';
import type { HttpTarget } from './http-servers.js';
import { summarizeLoad, type LoadSummary } from './load-summary.js';

/** How long a preload or a check may take before the run stops: each is a few thousand requests. */
const PRELOAD_TIMEOUT_MS = 120_000;
/** Past its duration, how long an autocannon run may take to end before it is stopped. */
const RUN_GRACE_MS = 30_000;

export const keyOf = (n: number) => `key:${n}`;

export interface HttpResponse {
  status: number;
  body: string;
}

function send(agent: http.Agent, port: number, method: 'GET' | 'PUT', path: string, body?: string): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * PUTs key:0 … key:(keys-1) over `connections` keep-alive connections, then GETs a
 * sample back: a server that answers 2xx but keeps nothing would otherwise look fast.
 */
export async function preloadKeys(target: HttpTarget, keys: number, value: string, connections: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const deadline = Date.now() + PRELOAD_TIMEOUT_MS;
  try {
    let next = 0;
    const worker = async () => {
      while (next < keys) {
        if (Date.now() > deadline) throw new Error(`preload of ${keys} keys took over ${PRELOAD_TIMEOUT_MS} ms`);
        const n = next++;
        const res = await send(agent, target.port, 'PUT', target.putPath(keyOf(n)), value);
        if (res.status < 200 || res.status > 299) throw new Error(`preload: PUT ${target.putPath(keyOf(n))} answered ${res.status}: ${res.body.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: connections }, worker));
    for (const n of [0, Math.floor(keys / 2), keys - 1]) {
      const res = await send(agent, target.port, 'GET', target.getPath(keyOf(n)));
      if (res.status !== 200 || res.body !== target.getBody(value)) {
        throw new Error(`preload check: GET ${target.getPath(keyOf(n))} answered ${res.status} ${JSON.stringify(res.body.slice(0, 200))}, expected 200 ${JSON.stringify(target.getBody(value))}`);
      }
    }
  } finally {
    agent.destroy();
  }
}

export interface LoadOptions {
  readonly method: 'GET' | 'PUT';
  readonly keys: number;
  readonly value: string;
  readonly connections: number;
  readonly seconds: number;
}

/** One autocannon run: `connections` keep-alive connections, one request in flight each, key:N in turn. */
export async function runLoad(target: HttpTarget, o: LoadOptions): Promise<LoadSummary> {
  let n = 0;
  const path = o.method === 'GET' ? target.getPath : target.putPath;
  const options: autocannon.Options = {
    url: `http://127.0.0.1:${target.port}`,
    connections: o.connections,
    pipelining: 1,
    duration: o.seconds,
    requests: [
      {
        method: o.method,
        ...(o.method === 'PUT' ? { body: o.value } : {}),
        setupRequest: (req) => ({ ...req, path: path(keyOf(n++ % o.keys)) }),
      },
    ],
  };
  let instance: autocannon.Instance | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(options, (err: unknown, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result)));
  });
  const guard = setTimeout(() => instance?.stop(), o.seconds * 1000 + RUN_GRACE_MS);
  try {
    return summarizeLoad(await done);
  } finally {
    clearTimeout(guard);
  }
}
