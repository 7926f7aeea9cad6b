import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { KvError, ProtocolError } from '../../../src/errors.js';
import { ErrorKind, Outcome } from './tally.js';
import type { OpKind } from './workload.js';
import type { TcpDialect } from './tcp-dialects.js';
import type { Done, Lane, LaneShare, Transport, TransportEvents } from './transport.js';
import { readCredentials, type Credentials } from '../credentials.js';

/** Opens a TCP connection, or fails with a KvError that says what to check. */
export function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const address = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new KvError('TIMEOUT', `could not connect to ${address} within ${timeoutMs} ms (check the host and port, or raise --timeout)`));
    }, timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new KvError('CONNECTION', `cannot connect to ${address}: ${err.code ?? err.message} (is kv-server running there? check --host and --port)`, { cause: err }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * Sends AUTH with the credentials of KV_USER and KV_PASSWORD (README "kv-bench"), before
 * any request of the run: its reply is one line, read here, and the lane's reader starts after it.
 */
function authenticate(socket: net.Socket, dialect: TcpDialect, creds: Credentials, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => fail(new KvError('TIMEOUT', `no reply to AUTH within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: KvError) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      const nl = got.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const line = got.slice(0, nl).replace(/\r$/, '');
      if (line === '+OK' || line === 'OK') return resolve();
      fail(new KvError('WRONG_PASS', `the server refused AUTH (check KV_USER and KV_PASSWORD): ${line.replace(/^[-+]/, '')}`));
    };
    socket.on('data', onData);
    socket.write(dialect.auth(creds.user, creds.password));
  });
}

/**
 * One pipelined TCP connection. Replies come back in request order, so the
 * requests in flight are a FIFO ring of `depth` slots, and only the oldest one
 * can be late: the transport's sweep checks its age.
 */
class TcpLane implements Lane {
  ready = false;
  private socket: net.Socket | null = null;
  private readonly dones: Array<Done | undefined>;
  private readonly sentAt: Float64Array;
  private head = 0;
  private count = 0;
  private corked = false;
  /** Why the current socket is being torn down, for the requests it strands. */
  private failKind: string = ErrorKind.CONNECTION;
  private closing = false;

  constructor(
    readonly depth: number,
    readonly server: number,
    private readonly dialect: TcpDialect,
    private readonly share: LaneShare,
    private readonly events: TransportEvents,
  ) {
    this.dones = new Array<Done | undefined>(depth);
    this.sentAt = new Float64Array(depth);
  }

  get outstanding(): number {
    return this.count;
  }

  async open(): Promise<void> {
    const target = this.share.servers[this.server] ?? { host: this.share.host, port: this.share.port };
    const socket = await connectTcp(target.host, target.port, this.share.timeoutMs);
    const creds = readCredentials({});
    if (creds !== null) await authenticate(socket, this.dialect, creds, this.share.timeoutMs);
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.attach(socket);
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.failKind = ErrorKind.CONNECTION;
    const reader = this.dialect.reader((outcome, kind) => this.onReply(outcome, kind));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.feed(chunk);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.failKind = ErrorKind.PROTOCOL;
        socket.destroy();
      }
    });
    socket.on('error', () => undefined); // 'close' follows and says the rest
    socket.on('close', () => this.onClose(socket));
    this.ready = true;
  }

  send(op: OpKind, key: Buffer, value: Buffer, done: Done): void {
    const socket = this.socket as net.Socket;
    const slot = (this.head + this.count) % this.depth;
    this.dones[slot] = done;
    this.sentAt[slot] = performance.now();
    this.count++;
    if (!this.corked) {
      // Requests issued in one tick leave in one write, as a pipelining client's do.
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(this.dialect.encode(op, key, value));
  }

  private onReply(outcome: Outcome, kind: string | null): void {
    if (this.count === 0) throw new ProtocolError('the server sent a reply nobody asked for');
    const done = this.dones[this.head] as Done;
    this.dones[this.head] = undefined;
    this.head = (this.head + 1) % this.depth;
    this.count--;
    done(outcome, kind, 0);
  }

  /** Called by the transport's sweep: drops the connection when its oldest request is overdue. */
  sweep(now: number): void {
    if (this.count > 0 && now - (this.sentAt[this.head] as number) > this.share.timeoutMs && this.socket) {
      this.failKind = ErrorKind.TIMEOUT;
      this.socket.destroy();
    }
  }

  /** Ends every request in flight with `kind`. */
  private failAll(kind: string): void {
    while (this.count > 0) this.onReply(Outcome.ERROR, kind);
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.ready = false;
    this.failAll(this.failKind);
    if (this.closing) return;
    // One reconnect: a connection dropped by a timeout or a restart gets another chance;
    // a server that is gone fails the run now rather than spinning on refusals.
    this.open().then(
      () => {
        if (this.ready) this.events.onReady(this);
      },
      (err: Error) => this.events.onFatal(new KvError('CONNECTION', `lost the connection and could not reconnect: ${err.message}`, { cause: err })),
    );
  }

  close(kind: string): Promise<void> {
    this.closing = true;
    this.ready = false;
    this.failAll(kind);
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }
}

/** `share.lanes` pipelined connections speaking `dialect`. */
export async function openTcpTransport(dialect: TcpDialect, share: LaneShare, events: TransportEvents): Promise<Transport> {
  const lanes = share.laneServers.map((server) => new TcpLane(share.depth, server, dialect, share, events));
  const closeAll = (kind: string) => Promise.all(lanes.map((l) => l.close(kind))).then(() => undefined);
  try {
    await Promise.all(lanes.map((l) => l.open()));
  } catch (err) {
    await closeAll(ErrorKind.CONNECTION);
    throw err;
  }
  const sweepMs = Math.max(10, Math.min(250, share.timeoutMs / 4));
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const l of lanes) l.sweep(now);
  }, sweepMs);
  return {
    lanes,
    close(kind) {
      clearInterval(sweeper);
      return closeAll(kind);
    },
  };
}
