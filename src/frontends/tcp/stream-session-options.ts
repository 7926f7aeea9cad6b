/** What a StreamSession (stream-session.ts) is given: its options, and the ports it runs commands and writes replies through. */
import type { Logger } from 'pino';
import type { AuthUser, Session } from '../../commands/types.js';
import type { OpLog } from '../../op-log.js';
import type { Reply } from '../../protocol/reply.js';
import type { DecoderLimits } from '../../protocol/sink.js';
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
