import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientConnection, Session } from '../../commands/types.js';
import { createOpLog } from '../../op-log.js';
import type { ClientMemoryCap, MeasuredClient } from '../client-memory.js';
import { fdOf, localAddressOf } from '../socket-facts.js';
import { HTTP } from './http-dialect.js';

/** What a route tells about the memory a request holds (--maxmemory-clients). */
export interface ClientMeter {
  /** Bytes of the request body read and held now (0 once handed on or refused). */
  holding(bytes: number): void;
  /** Something was written: the bytes owed to the socket changed. */
  changed(): void;
}

/**
 * One HTTP connection as CLIENT LIST, CLIENT KILL and --maxmemory-clients see it, as a
 * TCP client is: its session (op lines, CLIENT SETNAME has no route here), the body it
 * holds and the reply bytes its socket still owes.
 */
export class HttpConnection implements ClientConnection, MeasuredClient, ClientMeter {
  readonly session: Session;
  reportedMemory = 0;
  readonly localAddress: string;
  readonly fd: number;
  readonly createdAt = performance.now();
  lastActiveAt = this.createdAt;
  lastCommand = 'NULL';
  noEvict = false;
  libName = '';
  libVer = '';
  /** HTTP replies are written whole by node:http: there is no reply buffer of ours. */
  readonly replyBufferBytes = 0;
  private bodyBytes = 0;
  /** The last Authorization token that was right on this connection (http-auth.ts); null: none yet. */
  knownToken: string | null = null;

  constructor(
    private readonly socket: Socket,
    id: number,
    log: Logger,
    logOps: boolean,
    private readonly cap: ClientMemoryCap,
  ) {
    const client = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const opLog = logOps ? createOpLog(log.child({ transport: 'http', client, conn: id })) : null;
    this.session = { transport: 'http', dialect: HTTP, client, opLog, closing: false, name: '', id, multi: null, watched: null, user: null, conn: this };
    this.localAddress = localAddressOf(socket);
    this.fd = fdOf(socket);
    socket.on('drain', () => this.changed());
  }

  get id(): number {
    return this.session.id;
  }

  get client(): string {
    return this.session.client;
  }

  get queryBytes(): number {
    return this.bodyBytes;
  }

  get outputBytes(): number {
    return this.socket.writableLength;
  }

  get memory(): number {
    return this.bodyBytes + this.socket.writableLength;
  }

  holding(bytes: number): void {
    this.bodyBytes = bytes;
    this.cap.update(this);
  }

  changed(): void {
    this.cap.update(this);
  }

  kill(): void {
    this.socket.destroy();
  }

  /** MONITOR cannot be asked for over HTTP, so nothing is ever pushed. */
  push(): void {}
}
