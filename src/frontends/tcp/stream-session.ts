import type { Logger } from 'pino';
import { RESP, TEXT } from '../../commands/dialects.js';
import type { AuthUser, ClientConnection, Dialect, QueuedTransaction, ReplyMode, Session } from '../../commands/types.js';
import { KvError, ProtocolError } from '../../errors.js';
import type { OpLog } from '../../op-log.js';
import { errorReply, type Reply } from '../../protocol/reply.js';
import { ReplyWriter } from '../../protocol/reply-writer.js';
import { encodeResp3Reply, encodeRespReply, RespDecoder } from '../../protocol/resp.js';
import { ARG_OVERHEAD_BYTES, preAuthLimits, type CommandSink, type DecoderLimits } from '../../protocol/sink.js';
import { encodeTextReply, TextLineDecoder } from '../../protocol/text.js';
import type { ByteString } from '../../store/bytes.js';

/** Runs one command; the reply may come later (a write waiting for the log, a remote backend). */
export type RunCommand = (session: Session, args: ByteString[]) => Reply | Promise<Reply>;

/** Where a session's bytes go: a socket, or a test's list of chunks. */
export interface SessionOutput {
  /** Takes reply bytes. False asks the session to write nothing more until resume(). */
  write(bytes: Buffer): boolean;
  /** The session is over (QUIT, a protocol error, close()): every reply owed has been written. */
  end(): void;
  /** The session changed on its own, outside feed() and resume(): a reply that waited has settled. */
  changed(): void;
}

/** The counters a session keeps up (ServerStats has them). */
export interface SessionStats {
  bytesIn: number;
  bytesOut: number;
  protocolErrors: number;
  queryBufferDisconnects: number;
  /** An error reply by its RESP prefix (INFO's errorstats). */
  countError(prefix: string): void;
}

export interface StreamSessionOptions {
  readonly id: number;
  /** `address:port` of the peer. */
  readonly client: string;
  readonly run: RunCommand;
  readonly output: SessionOutput;
  readonly stats: SessionStats;
  readonly log: Logger;
  readonly opLog: OpLog | null;
  readonly limits: DecoderLimits;
  /** Who the session starts as (AccessControl.initialUser): null, and it is held to Redis's pre-auth limits until AUTH. */
  readonly user: AuthUser | null;
  /** Reply bytes the session may hold unwritten before it stops running commands (default REPLY_HOLD_BYTES). */
  readonly holdBytes?: number;
  /**
   * A reply's promise may stand for a command that has not run yet (a remote backend:
   * Backend.answersLater), so the next request waits until it settles: a connection's
   * commands run in the order they arrived, and a pipeline reads its own writes. Else
   * (the memory backend, whose promise is only durability) only the replies wait.
   */
  readonly oneAtATime?: boolean;
}

/**
 * Commands wait in the backlog while the session holds more reply bytes than this
 * that it could not write yet (queued behind a reply that waits, or encoded while the
 * output asked to wait): a client that does not read is slowed down instead of
 * piling up replies until --max-output-buffer cuts it off.
 */
export const REPLY_HOLD_BYTES = 1024 * 1024;

/**
 * Where replies that waited are encoded. encode and take() run without yielding, so
 * one writer serves every session (a fresh 16 KiB buffer per settled reply was a
 * measurable share of GC time under --fsync always).
 */
const SCRATCH = new ReplyWriter();

/** What a request waiting in the backlog, or a reply still to come, is counted as beyond its bytes. */
const SLOT_BYTES = 64;

/** What a reply silenced by CLIENT REPLY OFF or SKIP leaves in the order queue. */
const NOTHING = Buffer.alloc(0);

/** A reply in the order queue: its bytes, or null while its promise is pending. */
interface Slot {
  bytes: Buffer | null;
}

/** A request read but not yet run, because the replies before it are not being taken. */
type Deferred = { readonly args: ByteString[] } | { readonly err: KvError };
/** What a run backlog entry is left holding, so that its arguments can be collected. */
const DONE: Deferred = { args: [] };

function deferredBytes(d: Deferred): number {
  if (!('args' in d)) return SLOT_BYTES;
  let n = 0;
  for (const a of d.args) n += a.length + ARG_OVERHEAD_BYTES;
  return n;
}

function asKvError(err: unknown): KvError {
  return err instanceof KvError ? err : new KvError('SERVER', 'the command failed; see the server log', { cause: err });
}

/**
 * One client's byte stream, with no socket: bytes in through feed(), reply bytes out
 * through a SessionOutput. The dialect is chosen from the first line (`*`, or a line
 * ending in CRLF: RESP2; a bare LF: text; holdFirstLine). Requests run in the order they arrive and their replies leave
 * in that order, even when a reply is a promise: the replies after it wait in the order
 * queue. Requests decoded while the output asks to wait, or while the session holds
 * more than `holdBytes` of replies, wait in a backlog and run on resume(), in order.
 * A protocol error is answered after the replies to everything read before it, then
 * the session ends, as after QUIT.
 */
export class StreamSession implements CommandSink, Session {
  readonly transport = 'tcp' as const;
  dialect: Dialect = TEXT;
  /** Set by QUIT, a protocol error or close(): the session ends once the replies owed are written. */
  closing = false;
  name = '';
  /** CLIENT REPLY: undefined is `on`; a handler that sets `on`, `off` or `skip` is read after it runs (silenced()). */
  replyMode: ReplyMode | undefined = undefined;
  monitoring = false;
  private resp3 = false;
  /** The connection around this session, as CLIENT LIST shows it (set by its SocketConnection). */
  conn: ClientConnection | undefined = undefined;
  readonly id: number;
  multi: QueuedTransaction | null = null;
  watched: Map<ByteString, number> | null = null;
  readonly client: string;
  readonly opLog: OpLog | null;
  private readonly run: RunCommand;
  private readonly output: SessionOutput;
  private readonly stats: SessionStats;
  private readonly log: Logger;
  /** What the decoder holds requests to now: the full limits, or while `user` is null the pre-auth ones. */
  private limits: DecoderLimits;
  private readonly fullLimits: DecoderLimits;
  user: AuthUser | null;
  private readonly holdBytes: number;
  private readonly oneAtATime: boolean;
  private decoder: RespDecoder | TextLineDecoder | null = null;
  /** The first bytes, held until the first line's end shows which dialect they are (chooseDialect). */
  private firstBytes: Buffer[] = [];
  private firstLength = 0;
  private encode: (w: ReplyWriter, r: Reply) => void = encodeTextReply;
  /** Sync replies after every slot of `queue`: the tail of the output. */
  private readonly writer = new ReplyWriter();
  /** Replies that must leave before the writer's, the first of them still pending. */
  private readonly queue: Slot[] = [];
  /** Bytes of the settled slots in `queue`, plus SLOT_BYTES for each pending one. */
  private queuedBytes = 0;
  /** Slots of `queue` whose promise is pending. */
  private pending = 0;
  private readonly backlog: Deferred[] = [];
  /** Index of the backlog's first entry still to run. */
  private backlogHead = 0;
  private backlogBytes = 0;
  /** The output asked to wait: nothing is written or run until resume(). */
  private blocked = false;
  /** The decoder threw: nothing more is read. */
  private failed = false;
  /** The peer sends nothing more (its FIN): the session ends once everything read is answered. */
  private inputEnded = false;
  /** CLIENT REPLY SKIP ran: the next command's reply is dropped. */
  private skipNext = false;
  /** end() was called, or abort(): nothing more is run or written. */
  private ended = false;

  constructor(options: StreamSessionOptions) {
    this.id = options.id;
    this.client = options.client;
    this.run = options.run;
    this.output = options.output;
    this.stats = options.stats;
    this.log = options.log;
    this.opLog = options.opLog;
    this.fullLimits = options.limits;
    this.user = options.user;
    this.limits = this.user === null ? preAuthLimits(options.limits) : options.limits;
    this.holdBytes = options.holdBytes ?? REPLY_HOLD_BYTES;
    this.oneAtATime = options.oneAtATime ?? false;
  }

  /** RESP2, or RESP3 once HELLO 3 chose it: the replies from then on are encoded so. */
  get protocol(): 2 | 3 {
    return this.resp3 ? 3 : 2;
  }

  set protocol(v: 2 | 3) {
    this.resp3 = v === 3;
    if (this.dialect === RESP) this.encode = this.resp3 ? encodeResp3Reply : encodeRespReply;
  }

  /** Bytes of an unfinished request, of the requests waiting in the backlog, and of a transaction's queue (MULTI). */
  get queryBytes(): number {
    return (this.decoder?.pendingBytes ?? this.firstLength) + this.backlogBytes + (this.multi?.bytes ?? 0);
  }

  /** Reply bytes not yet handed to the output. */
  get replyBytes(): number {
    return this.writer.length + this.queuedBytes;
  }

  /** The size of the buffer this session's replies are encoded into. */
  get replyBufferBytes(): number {
    return this.writer.capacity;
  }

  /**
   * A reply no request asked for (a MONITOR line): it goes after everything owed, and
   * the output is told, so that a watcher that does not read meets --max-output-buffer.
   */
  pushUnsolicited(reply: Reply): void {
    if (this.ended) return;
    this.encode(this.writer, reply);
    this.flush();
    this.output.changed();
  }

  /** Requests are read but not run: the caller should stop reading until resume(). */
  get waiting(): boolean {
    return this.backlogHead < this.backlog.length;
  }

  /** Every request read has run and its reply has been handed to the output. */
  get idle(): boolean {
    return this.ended || (!this.waiting && this.queue.length === 0 && this.writer.length === 0);
  }

  feed(chunk: Buffer): void {
    if (this.ended || this.failed) return;
    this.stats.bytesIn += chunk.length;
    let bytes = chunk;
    if (this.decoder === null) {
      const held = this.holdFirstLine(chunk);
      if (held === null) return;
      bytes = held;
    }
    this.decode(bytes);
    this.pump();
  }

  private decode(bytes: Buffer): void {
    try {
      (this.decoder as RespDecoder | TextLineDecoder).feed(bytes);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.onProtocolError(err);
    }
  }

  /** The output takes bytes again. */
  resume(): void {
    if (this.ended || !this.blocked) return;
    this.blocked = false;
    this.pump();
  }

  /** The peer will send nothing more: the session ends once everything read has run and been answered. */
  endInput(): void {
    if (this.ended) return;
    this.inputEnded = true;
    // A first line that never ended: the text dialect's, as before there was a choice to make.
    if (this.decoder === null && this.firstLength > 0 && !this.failed) this.decode(this.takeFirstBytes('text'));
    this.pump();
  }

  /** Reads nothing more, drops the requests not yet run, and ends once the replies owed are written (shutdown). */
  close(): void {
    if (this.ended) return;
    this.closing = true;
    this.pump();
  }

  /** Drops everything owed, at once (the connection is gone or was cut). */
  abort(): void {
    this.ended = true;
    this.blocked = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.pending = 0;
    this.dropBacklog();
    if (this.writer.length > 0) this.writer.take();
  }

  /**
   * docs/PROTOCOL.md §0: the dialect comes from the first line. `*` first: RESP2. Else the
   * first line's end decides: CRLF, as every Redis tool sends an inline command (PING from
   * redis-benchmark, HAProxy's redis-check), is RESP2 too; a bare LF, as `nc` sends, is the
   * text dialect. Returns the bytes to decode once the dialect is chosen, or null while the
   * first line has not ended (held, up to --max-line-size; a longer line is the text
   * dialect's, which refuses it).
   */
  private holdFirstLine(chunk: Buffer): Buffer | null {
    if (this.firstLength === 0 && chunk[0] === 0x2a /* * */) {
      this.chooseDialect('resp');
      return chunk;
    }
    const lf = chunk.indexOf(0x0a);
    const lineLength = lf < 0 ? this.firstLength + chunk.length : this.firstLength + lf;
    this.firstBytes.push(chunk);
    this.firstLength += chunk.length;
    // Too long a line is the text dialect's however it arrives: split or whole, the choice is the same.
    if (lineLength > this.limits.maxLineBytes) return this.takeFirstBytes('text');
    if (lf < 0) return null;
    const beforeLf = lf > 0 ? chunk[lf - 1] : this.firstBytes.length > 1 ? (this.firstBytes[this.firstBytes.length - 2] as Buffer).at(-1) : undefined;
    return this.takeFirstBytes(beforeLf === 0x0d ? 'resp' : 'text');
  }

  private takeFirstBytes(dialect: 'resp' | 'text'): Buffer {
    const bytes = this.firstBytes.length === 1 ? (this.firstBytes[0] as Buffer) : Buffer.concat(this.firstBytes, this.firstLength);
    this.firstBytes = [];
    this.firstLength = 0;
    this.chooseDialect(dialect);
    return bytes;
  }

  private chooseDialect(dialect: 'resp' | 'text'): void {
    if (dialect === 'resp') {
      this.dialect = RESP;
      this.encode = encodeRespReply;
      this.decoder = new RespDecoder(this, this.limits);
    } else {
      this.dialect = TEXT;
      this.encode = encodeTextReply;
      this.decoder = new TextLineDecoder(this, this.limits);
    }
    this.log.debug({ dialect: this.dialect.name }, 'dialect chosen');
  }

  command(args: ByteString[]): boolean {
    if (this.closing || this.ended) return false;
    if (this.waiting || !this.canRun()) {
      this.defer({ args });
      return true;
    }
    this.runOne(args);
    return !this.closing && !this.ended;
  }

  private runOne(args: ByteString[]): void {
    const skipThis = this.skipNext;
    this.skipNext = false;
    if (this.replyMode === 'on') this.replyMode = undefined;
    const reply = this.run(this, args);
    // AUTH (or RESET) changed who this is: the next request, even later in this chunk, is held to that.
    if ((this.user === null) !== (this.limits.unauthenticated === true)) this.relimit();
    this.push(reply, this.silenced(skipThis));
  }

  private relimit(): void {
    this.limits = this.user === null ? preAuthLimits(this.fullLimits) : this.fullLimits;
    this.decoder?.relimit(this.limits);
  }

  /** Whether CLIENT REPLY drops the reply of the command that just ran (Redis's REPLY_OFF, REPLY_SKIP and SKIP_NEXT). */
  private silenced(skipThis: boolean): boolean {
    switch (this.replyMode) {
      case undefined:
        return skipThis;
      case 'off':
        return true;
      case 'on': // CLIENT REPLY ON just ran: its OK goes, even after a SKIP
        this.replyMode = undefined;
        return false;
      case 'skip': // CLIENT REPLY SKIP just ran: no reply to it, nor to the next command
        this.replyMode = undefined;
        this.skipNext = true;
        return true;
    }
  }

  reject(err: KvError): boolean {
    if (this.closing || this.ended) return false;
    if (this.waiting || !this.canRun()) {
      this.defer({ err });
      return true;
    }
    this.answerError(err);
    return !this.closing && !this.ended;
  }

  private onProtocolError(err: ProtocolError): void {
    this.stats.protocolErrors++;
    if (err.code === 'QUERY_BUFFER_LIMIT') this.stats.queryBufferDisconnects++;
    this.log.warn(
      { err: { code: err.code, message: err.message } },
      err.code === 'QUERY_BUFFER_LIMIT' ? 'client query buffer limit reached; closing the connection' : 'protocol error; closing the connection',
    );
    this.failed = true;
    // Its reply goes after the replies to everything read before it.
    if (this.waiting) this.defer({ err });
    else this.answerError(err);
  }

  /** A refused request gets its error; one whose code closes the connection (src/errors.ts) is the last reply. */
  private answerError(err: KvError): void {
    if (err.closesConnection) {
      this.push(errorReply(err));
      this.closing = true;
      return;
    }
    this.log.warn({ err: { code: err.code, message: err.message } }, 'request rejected');
    this.stats.countError(err.respPrefix);
    this.push(errorReply(err));
  }

  private canRun(): boolean {
    return !this.blocked && !this.ended && this.replyBytes <= this.holdBytes && !(this.oneAtATime && this.pending > 0);
  }

  private defer(d: Deferred): void {
    this.backlog.push(d);
    this.backlogBytes += deferredBytes(d);
  }

  private dropBacklog(): void {
    this.backlog.length = 0;
    this.backlogHead = 0;
    this.backlogBytes = 0;
  }

  private push(reply: Reply | Promise<Reply>, silent = false): void {
    if (!(reply instanceof Promise)) {
      if (!silent) this.encode(this.writer, reply);
      return;
    }
    // What the writer holds leaves before this reply.
    if (this.writer.length > 0) {
      const bytes = this.writer.take();
      this.queue.push({ bytes });
      this.queuedBytes += bytes.length;
    }
    const slot: Slot = { bytes: null };
    this.queue.push(slot);
    this.queuedBytes += SLOT_BYTES;
    this.pending++;
    reply.then(
      (r) => this.settle(slot, r, silent),
      (err: unknown) => this.settle(slot, errorReply(asKvError(err)), silent),
    );
  }

  private settle(slot: Slot, r: Reply, silent: boolean): void {
    if (this.ended) return;
    // A silenced reply still holds its place: what follows it waits for it, as for any other.
    if (silent) slot.bytes = NOTHING;
    else {
      this.encode(SCRATCH, r);
      slot.bytes = SCRATCH.take();
    }
    this.pending--;
    this.queuedBytes += slot.bytes.length - SLOT_BYTES;
    this.pump();
    this.output.changed();
  }

  /**
   * Runs what waits in the backlog and writes what is ready, for as long as the output
   * takes it; then ends if closing, or at the end of the input, once nothing is left. The loop goes on while every
   * write is taken at once (a socket that keeps up): no resume() would come to carry on.
   */
  private pump(): void {
    for (;;) {
      this.runBacklog();
      this.flush();
      if (this.ended || !this.waiting || !this.canRun()) break;
    }
    if ((this.closing || this.inputEnded) && !this.ended && !this.waiting && this.pending === 0) this.finish();
  }

  private runBacklog(): void {
    while (this.waiting && this.canRun()) {
      // After a QUIT, or close(), what was read behind it is dropped, as the decoder would have.
      if (this.closing) break;
      const d = this.backlog[this.backlogHead] as Deferred;
      this.backlog[this.backlogHead++] = DONE; // let the arguments go
      this.backlogBytes -= deferredBytes(d);
      if ('args' in d) this.runOne(d.args);
      else this.answerError(d.err);
    }
    if (!this.waiting || this.closing) this.dropBacklog();
  }

  /** Hands the output every reply that is ready, in order, in as few writes as possible. */
  private flush(): void {
    if (this.blocked || this.ended) return;
    if (this.queue.length > 0) {
      let head = this.queue[0];
      while (head !== undefined && head.bytes !== null) {
        SCRATCH.raw(head.bytes);
        this.queuedBytes -= head.bytes.length;
        this.queue.shift();
        head = this.queue[0];
      }
      if (SCRATCH.length > 0) this.send(SCRATCH.take());
      // A reply still pending holds back the writer's.
      if (this.queue.length > 0 || this.blocked) return;
    }
    if (this.writer.length > 0) this.send(this.writer.take());
  }

  private send(bytes: Buffer): void {
    this.stats.bytesOut += bytes.length;
    if (!this.output.write(bytes)) this.blocked = true;
  }

  /** The last replies go even if the output asked to wait: nothing comes after them. */
  private finish(): void {
    for (const slot of this.queue) SCRATCH.raw(slot.bytes as Buffer);
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.writer.length > 0) SCRATCH.raw(this.writer.take());
    if (SCRATCH.length > 0) this.send(SCRATCH.take());
    if (this.ended) return; // the output cut the session while taking them
    this.ended = true;
    this.output.end();
  }
}
