/**
 * A Prometheus stand-in for the benchmarks' "HTTP and metrics enabled" server: a child
 * process that GETs /metrics once a second (Prometheus's default scrape interval is
 * 15 s, so this is harsher) until stopped, for at most `maxSeconds`.
 *
 *   node dist/bench/lib/metrics-scraper.js <http-port> [maxSeconds]
 *
 * A child process, not a timer here: the benchmarks run redis-benchmark synchronously,
 * which would hold a timer of this process back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, startKvServer, type Proc } from './procs.js';

const SCRAPE_MS = 1000;

/** Starts the scraper against `httpPort` (127.0.0.1); stop it with the returned function. */
export function startMetricsScraper(httpPort: number, maxSeconds = 3600): () => void {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), String(httpPort), String(maxSeconds)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return () => {
    child.kill('SIGTERM');
  };
}

/** kv-server with its HTTP front-end on (`--http-port`) and /metrics scraped every second, as a monitored server runs. */
export async function startKvWithHttp(extraArgs: string[] = []): Promise<Proc> {
  const httpPort = await freePort();
  const proc = await startKvServer(['--http-port', String(httpPort), ...extraArgs]);
  const stopScraper = startMetricsScraper(httpPort);
  return {
    ...proc,
    stop: async () => {
      stopScraper();
      await proc.stop();
    },
  };
}

async function scrapeLoop(port: number, maxSeconds: number): Promise<void> {
  const until = Date.now() + maxSeconds * 1000;
  let failures = 0;
  while (Date.now() < until) {
    const t0 = Date.now();
    try {
      // A server that requires a password (bench:tcp --auth) is scraped as Prometheus would be, with its token.
      const password = process.env.KV_REQUIREPASS;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, password ? { headers: { Authorization: `Bearer ${password}` } } : {});
      await res.text();
      if (res.status !== 200) failures++;
    } catch {
      failures++;
    }
    if (failures > 10) throw new Error(`/metrics on port ${port} failed ${failures} times`);
    await new Promise((r) => setTimeout(r, Math.max(0, SCRAPE_MS - (Date.now() - t0))));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2]);
  const maxSeconds = Number(process.argv[3] ?? 3600);
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: metrics-scraper <http-port> [maxSeconds]');
  await scrapeLoop(port, maxSeconds);
}
