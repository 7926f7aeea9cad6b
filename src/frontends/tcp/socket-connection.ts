import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AuthUser, ClientConnection } from '../../commands/types.js';
import { createOpLog } from '../../op-log.js';
import type { Reply } from '../../protocol/reply.js';
import type { DecoderLimits } from '../../protocol/sink.js';
import { fdOf, localAddressOf } from '../socket-facts.js';
import type { MeasuredClient } from '../client-memory.js';
import { REPLY_HOLD_BYTES, StreamSession, type RunCommand, type SessionOutput, type SessionStats } from './stream-session.js';
import { HELD_BYTES_LIMIT, WRITE_BATCH, type BatchedOutput } from './write-batch.js';

/** What a connection tells its front-end: how much memory it holds. */
export interface ConnectionOwner {
  /** Called after the connection's buffers change size (the global client-memory cap). */
  memoryChanged(conn: SocketConnection): void;
}

export interface ConnectionLimits extends DecoderLimits {
  /** Reply bytes owed before the client is disconnected (--max-output-buffer). */
  readonly maxOutputBuffer: number;
}

export interface ConnectionStats extends SessionStats {
  outputLimitDisconnects: number;
}

export interface SocketConnectionOptions {
  readonly id: number;
  readonly client: string;
  readonly run: RunCommand;
  readonly stats: ConnectionStats;
  readonly log: Logger;
  readonly logOps: boolean;
  readonly limits: ConnectionLimits;
  readonly owner: ConnectionOwner;
  /** Who the connection starts as: null until it authenticates (when credentials are configured). */
  readonly user: AuthUser | null;
  /** StreamSessionOptions.oneAtATime: the backend answers later (a remote engine). */
  readonly oneAtATime?: boolean;
}

/** After QUIT or a protocol error, how long a peer that does not read gets to take its last replies. */
const END_GRACE_MS = 2000;

/**
 * Moves bytes between one TCP socket and its StreamSession, and honours backpressure:
 * reading stops while socket.write() has returned false (until 'drain') and while the
 * session holds requests it cannot run yet, so a client that reads slowly is slowed
 * down. --max-output-buffer is the last brake: a client owed more than that is cut.
 * Reply bytes are held until the end of the event loop's turn (write-batch.ts), up to
 * HELD_BYTES_LIMIT, and then written in one go.
 */
export class SocketConnection implements SessionOutput, MeasuredClient, ClientConnection, BatchedOutput {
  readonly session: StreamSession;
  /** The memory this connection last reported to its owner. */
  reportedMemory = 0;
  // What CLIENT LIST shows (ClientConnection); executeCommand keeps lastActiveAt and lastCommand.
  readonly localAddress: string;
  readonly fd: number;
  readonly createdAt = performance.now();
  lastActiveAt = this.createdAt;
  lastCommand = 'NULL';
  noEvict = false;
  libName = '';
  libVer = '';
  private writeBlocked = false;
  private readPaused = false;
  private shuttingDown = false;
  /** The socket is ending or gone: nothing more is written. */
  private dead = false;
  private drainWaiters: Array<() => void> = [];
  /** Reply bytes the session handed over this turn, not yet written to the socket. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** In WRITE_BATCH's list for the end of this turn. */
  private batched = false;
  private readonly log: Logger;
  private readonly stats: ConnectionStats;
  private readonly maxOutputBuffer: number;
  private readonly owner: ConnectionOwner;

  constructor(
    private readonly socket: Socket,
    options: SocketConnectionOptions,
  ) {
    this.log = options.log;
    this.stats = options.stats;
    this.maxOutputBuffer = options.limits.maxOutputBuffer;
    this.owner = options.owner;
    this.session = new StreamSession({
      id: options.id,
      client: options.client,
      run: options.run,
      output: this,
      stats: options.stats,
      log: options.log,
      opLog: options.logOps ? createOpLog(options.log) : null,
      limits: options.limits,
      user: options.user,
      // Half the brake: what the session holds back never reaches it on its own.
      holdBytes: Math.min(REPLY_HOLD_BYTES, Math.floor(options.limits.maxOutputBuffer / 2)),
      oneAtATime: options.oneAtATime,
    });
    this.session.conn = this;
    this.localAddress = localAddressOf(socket);
    this.fd = fdOf(socket);
    socket.on('data', (chunk: Buffer) => {
      if (this.dead) return;
      this.session.feed(chunk);
      this.review();
    });
    // The front-end's server allows half-open sockets: a client that sends its FIN right after
    // its requests still gets every reply, then the connection closes.
    socket.on('end', () => {
      if (this.dead) return;
      this.session.endInput();
      this.review();
    });
    socket.on('drain', () => {
      this.writeBlocked = false;
      if (this.dead) return;
      this.session.resume();
      this.review();
    });
  }

  get id(): number {
    return this.session.id;
  }

  get client(): string {
    return this.session.client;
  }

  /** Bytes of an unfinished request and of the requests waiting to run. */
  get queryBytes(): number {
    return this.session.queryBytes;
  }

  get replyBufferBytes(): number {
    return this.session.replyBufferBytes;
  }

  /** A MONITOR line: after everything owed, under the same --max-output-buffer brake. */
  push(reply: Reply): void {
    if (!this.dead) this.session.pushUnsolicited(reply);
  }

  /** Query bytes (an unfinished request, requests waiting to run) plus reply bytes owed. */
  get memory(): number {
    return this.session.queryBytes + this.outputBytes;
  }

  /** Reply bytes owed: in the socket's buffer, held for the end of the turn, or not yet written. */
  get outputBytes(): number {
    return this.socket.writableLength + this.heldBytes + this.session.replyBytes;
  }

  write(bytes: Buffer): boolean {
    // Checked before writing: the kernel may take most of a reply at once, and it was owed all the same.
    this.checkOutputLimit(bytes.length);
    if (this.dead) return false;
    if (!this.batched) {
      this.batched = true;
      WRITE_BATCH.add(this);
    }
    this.held.push(bytes);
    this.heldBytes += bytes.length;
    if (this.heldBytes >= HELD_BYTES_LIMIT) this.writeHeld();
    return !this.writeBlocked;
  }

  /** The end of the turn (WRITE_BATCH): what is held goes to the socket. */
  flushHeld(): void {
    this.batched = false;
    if (this.heldBytes === 0 || this.dead) return;
    this.writeHeld();
    // The socket's buffer is full: read nothing more until 'drain', as after any write refused.
    if (this.writeBlocked) this.updateReading();
    if (this.session.idle) this.releaseWaiters();
  }

  private writeHeld(): void {
    const bytes = this.held.length === 1 ? (this.held[0] as Buffer) : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    if (!this.socket.write(bytes)) this.writeBlocked = true;
  }

  /** Forgets what is held: the socket is gone. */
  private dropHeld(): void {
    this.held = [];
    this.heldBytes = 0;
  }

  end(): void {
    if (this.dead) return;
    if (this.heldBytes > 0) this.writeHeld();
    this.dead = true;
    // Read and drop what the client still sends, so that its FIN closes the socket at once
    // and unread input does not turn the close into a reset.
    this.socket.resume();
    this.socket.end();
    // A peer that never reads must not keep the socket open for ever. At shutdown the
    // front-end's --shutdown-timeout governs instead.
    if (!this.shuttingDown) setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
    this.releaseWaiters();
  }

  changed(): void {
    this.review();
  }

  /** After the session moved: the brake, reading on or off, shutdown waiters, the memory report. */
  private review(): void {
    if (!this.dead) {
      this.checkOutputLimit();
      this.updateReading();
      if (this.session.idle && this.heldBytes === 0) this.releaseWaiters();
    }
    this.owner.memoryChanged(this);
  }

  /** As Redis's client-output-buffer-limit: a client that does not read its replies is cut off. */
  private checkOutputLimit(writing = 0): void {
    const pending = this.outputBytes + writing;
    if (pending <= this.maxOutputBuffer || this.dead) return;
    this.stats.outputLimitDisconnects++;
    this.log.warn(
      { pendingBytes: pending, limit: this.maxOutputBuffer },
      'client output buffer limit reached; disconnecting (the client is not reading its replies)',
    );
    this.kill();
  }

  /** Reads while the client takes its replies and nothing waits; stops reading otherwise. */
  private updateReading(): void {
    const hold = this.shuttingDown || this.writeBlocked || this.session.waiting;
    if (hold === this.readPaused || this.dead) return;
    this.readPaused = hold;
    if (hold) {
      this.socket.pause();
      if (!this.shuttingDown) {
        this.log.debug({ owedBytes: this.outputBytes, waiting: this.session.waiting }, 'reading paused: the client is not taking its replies');
      }
    } else {
      this.socket.resume();
      this.log.debug('reading resumed');
    }
  }

  /** Stops reading; resolves once every request already read has run and its reply is written. */
  drain(): Promise<void> {
    this.shuttingDown = true;
    this.updateReading();
    if (this.dead || (this.session.idle && this.heldBytes === 0)) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Closes after the replies owed (shutdown); requests not yet run are dropped. */
  shutdown(): void {
    this.shuttingDown = true;
    this.session.close();
  }

  /** Drops everything owed and closes at once (a limit was hit, the client is idle, shutdown ran out of time). */
  kill(): void {
    this.socket.destroy();
    this.markDead();
  }

  /** The socket closed. */
  markDead(): void {
    this.dead = true;
    this.dropHeld();
    this.session.abort();
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    if (this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
