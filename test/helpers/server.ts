import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { afterEach } from 'vitest';
import { defaultConfig, type ServerConfig } from '../../src/config.js';
import { KvServer, type KvServerOptions } from '../../src/server.js';
import { RawClient } from './socket.js';

/** Log lines a test server wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    cb();
  }

  find(msg: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Waits for a line with this msg (as it is written: an event, not a sleep); fails after `timeoutMs`. */
  async waitFor(msg: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return (await this.waitForLines(msg, 1, timeoutMs))[0] as Record<string, unknown>;
  }

  /** Waits until `n` lines with this msg have been written, and returns them all. */
  async waitForLines(msg: string, n: number, timeoutMs = 10_000): Promise<Array<Record<string, unknown>>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.find(msg);
      if (found.length >= n) return found;
      if (Date.now() > deadline) throw new Error(`${found.length} of ${n} log lines '${msg}' within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100).unref();
      });
    }
  }
}

export interface TestServer {
  readonly server: KvServer;
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly dir: string;
  readonly logs: LogCapture;
  readonly log: Logger;
  stop(): Promise<void>;
}

export type TestServerOverrides = Partial<Omit<ServerConfig, 'limits' | 'udp' | 'persistence'>> & {
  limits?: Partial<ServerConfig['limits']>;
  udp?: Partial<ServerConfig['udp']>;
  persistence?: Partial<ServerConfig['persistence']>;
};

/**
 * Starts a real server in this process on port 0 (TCP and UDP), with its data in a
 * fresh temp directory and its log lines captured for assertions (or sent to
 * `options.log`, such as a real root logger, when given; `logs` then stays empty).
 * Persistence is off unless the test turns it on.
 */
export async function startTestServer(
  overrides: TestServerOverrides = {},
  options: { log?: Logger; server?: Omit<KvServerOptions, 'logStats' | 'logBacklogBytes'> } = {},
): Promise<TestServer> {
  const dir = overrides.dataDir ?? mkdtempSync(path.join(tmpdir(), 'dualkv-test-'));
  const base = defaultConfig();
  const config: ServerConfig = {
    ...base,
    ...overrides,
    host: overrides.host ?? '127.0.0.1',
    tcpPort: overrides.tcpPort ?? 0,
    udpPort: overrides.udpPort ?? 0,
    dataDir: dir,
    logDir: path.join(dir, 'logs'),
    limits: { ...base.limits, ...overrides.limits },
    udp: { ...base.udp, ...overrides.udp },
    persistence: { ...base.persistence, enabled: false, ...overrides.persistence },
  };
  const logs = new LogCapture();
  const log = options.log ?? pino({ level: config.logLevel === 'silent' ? 'silent' : 'debug', timestamp: pino.stdTimeFunctions.isoTime }, logs);
  const server = new KvServer(config, log, options.server);
  let ports: { tcpPort: number; udpPort: number };
  try {
    ports = await server.start();
  } catch (err) {
    // Whatever did open (a TCP listener, say) is closed again.
    await server.stop();
    if (overrides.dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    server,
    tcpPort: ports.tcpPort,
    udpPort: ports.udpPort,
    dir,
    logs,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      if (overrides.dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A clock a test moves by hand (ms since the epoch), for a server's expiry. */
export class ManualClock {
  constructor(public ms = Date.UTC(2030, 0, 1)) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * The one test-server fixture for a describe block: `start()` a server on port 0,
 * `connect()` raw clients to it, and everything is closed and stopped after each test.
 */
export function serverFixture(): {
  start(overrides?: TestServerOverrides, server?: Omit<KvServerOptions, 'logStats' | 'logBacklogBytes'>): Promise<TestServer>;
  /** A raw client; starts a server first (with `overrides`) if the test has not. */
  connect(overrides?: TestServerOverrides): Promise<RawClient>;
  readonly srv: TestServer;
} {
  let srv: TestServer | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await srv?.stop();
    srv = undefined;
  });
  return {
    async start(overrides = {}, server = {}) {
      srv = await startTestServer(overrides, { server });
      return srv;
    },
    async connect(overrides) {
      srv ??= await startTestServer(overrides);
      const c = await RawClient.connect(srv.tcpPort);
      clients.push(c);
      return c;
    },
    get srv() {
      if (srv === undefined) throw new Error('start the server first');
      return srv;
    },
  };
}
