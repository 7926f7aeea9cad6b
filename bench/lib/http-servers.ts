/**
 * The HTTP servers bench/http-vs-webdis.ts compares, each as real processes on
 * loopback: kv-server with --http-port 0, webdis in front of redis-server, and a
 * bare node:http server. Each says how its GET and PUT of a key are written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { track } from './cleanup.js';
import { httpPortFromLog } from './kv-listening.js';
import { freePort, ROOT, startKvServer, startRedis, tempDir, type Proc } from './procs.js';
import { webdisConfig } from './webdis-config.js';

/** How long a server may take to start listening. */
const START_TIMEOUT_MS = 20_000;
const POLL_MS = 50;

export interface HttpTarget {
  readonly port: number;
  /** The processes that serve it, for their CPU time (webdis: webdis and redis-server). */
  readonly pids: Record<string, number>;
  getPath(key: string): string;
  putPath(key: string): string;
  /** The value as it comes back in a GET's body (webdis wraps it in JSON). */
  getBody(value: string): string;
  stop(): Promise<void>;
}

export interface HttpServer {
  readonly name: string;
  readonly start: () => Promise<HttpTarget>;
}

const kvPaths = {
  getPath: (key: string) => `/v1/kv/${key}`,
  putPath: (key: string) => `/v1/kv/${key}`,
  getBody: (value: string) => value,
};

/** kv-server as a user starts it, plus --http-port 0; its HTTP port from the `listening` log line. */
async function startKvHttp(): Promise<HttpTarget> {
  const kv = track(await startKvServer(['--http-port', '0']));
  try {
    const port = await pollFor(`kv-server's listening line (httpPort) in ${kv.dir}/logs`, kv.child, () => {
      try {
        return httpPortFromLog(readFileSync(path.join(kv.dir, 'logs', 'current.log'), 'utf8'));
      } catch {
        return null; // not written yet
      }
    });
    return { port, pids: { 'kv-server': pidOf(kv.child) }, ...kvPaths, stop: () => kv.stop() };
  } catch (err) {
    await kv.stop();
    throw err;
  }
}

/** webdis (Debian's), its config in a temp dir, in front of redis-server with AOF everysec. */
async function startWebdis(threads: number): Promise<HttpTarget> {
  const dir = tempDir('dualkv-bench-webdis-');
  const redis = track(await startRedis([['appendonly', 'yes'], ['appendfsync', 'everysec']]));
  let webdis: Proc | null = null;
  try {
    const port = await freePort();
    const configFile = path.join(dir, 'webdis.json');
    writeFileSync(configFile, JSON.stringify(webdisConfig({ httpPort: port, redisPort: redis.port, threads, logfile: path.join(dir, 'webdis.log') }), null, 2));
    // libevent's warnings go to stderr; into a file, counted at the stop rather than lost.
    const stderrFile = path.join(dir, 'webdis.stderr');
    const stderrFd = openSync(stderrFile, 'w');
    const child = spawn('webdis', [configFile], { cwd: dir, stdio: ['ignore', 'ignore', stderrFd] });
    closeSync(stderrFd);
    webdis = track({ child, port, stop: () => stopChild(child) });
    await pollFor(`webdis on port ${port} (log: ${dir}/webdis.log)`, child, () => canConnect(port));
    const w = webdis;
    return {
      port,
      pids: { webdis: pidOf(child), 'redis-server': pidOf(redis.child) },
      // README, "Command format": /COMMAND/arg0/…; with PUT the body is the last argument.
      getPath: (key) => `/GET/${key}`,
      putPath: (key) => `/SET/${key}`,
      getBody: (value) => JSON.stringify({ GET: value }),
      stop: async () => {
        await w.stop();
        await redis.stop();
        reportStderr('webdis', readFileSync(stderrFile, 'utf8'));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await webdis?.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** bench/http-bare-server.ts (built), which prints its port on stdout. */
async function startBare(): Promise<HttpTarget> {
  const script = path.join(ROOT, 'dist/bench/http-bare-server.js');
  const child = spawn(process.execPath, [script, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const proc = track({ child, port: 0, stop: () => stopChild(child) });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} printed no port within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it listened`)));
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        const port = (JSON.parse(line) as { port?: unknown }).port;
        if (typeof port === 'number') resolve(port);
        else reject(new Error(`${script} printed ${line}, not {"port":N}`));
      });
    });
    return { port, pids: { 'node:http': pidOf(child) }, ...kvPaths, stop: () => proc.stop() };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** The three, in the order the ratios need: ours first, then what it is compared with. */
export function httpServers(webdisThreads: number): { kv: HttpServer; webdis: HttpServer; bare: HttpServer } {
  return {
    kv: { name: 'kv-server --http-port 0', start: startKvHttp },
    webdis: { name: `webdis (${webdisThreads} threads) + redis-server (AOF everysec)`, start: () => startWebdis(webdisThreads) },
    bare: { name: 'bare node:http + Map', start: startBare },
  };
}

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('a server process has no pid: it did not start');
  return child.pid;
}

/** Calls `probe` every POLL_MS until it gives a value, the child exits, or START_TIMEOUT_MS pass. */
async function pollFor<T>(what: string, child: ChildProcess, probe: () => T | null | Promise<T | null>): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the process exited (${child.exitCode ?? child.signalCode}) before ${what}`);
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} after ${START_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function canConnect(port: number): Promise<true | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(null);
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

/** Says on stderr how many lines a server wrote to its stderr, with the first, so that none pass unseen. */
function reportStderr(name: string, text: string): void {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length > 0) console.error(`${name} wrote ${lines.length} line(s) to stderr this round, the first: ${lines[0]}`);
}
