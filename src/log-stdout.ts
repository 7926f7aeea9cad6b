import { close, constants, fstatSync, openSync, statSync, write } from 'node:fs';
import net from 'node:net';
import { isatty } from 'node:tty';
import type { ByteWriter } from './log-destination.js';

/** A terminal that is not taking bytes (EAGAIN) is tried again after this long. */
const BUSY_RETRY_MS = 20;

/**
 * The writer for stdout, chosen so that no write can block: neither the event
 * loop (process.stdout writes synchronously to pipes and terminals) nor the
 * process's exit (a blocking write(2) stuck in the thread pool keeps even
 * process.exit() from returning).
 * - pipe or socket: a net.Socket, whose writes wait in epoll, and which close()
 *   can abandon. A FIFO is first opened again non-blocking through /proc, so
 *   that the O_NONBLOCK libuv sets is not shared with whoever else holds it.
 * - terminal: opened again non-blocking, written with fs.write, EAGAIN retried.
 * - a regular file: fs.write on fd 1.
 * Null when stdout is /dev/null or closed: lines are then not written there at all.
 */
export function openStdoutWriter(): ByteWriter | null {
  let st;
  try {
    st = fstatSync(1);
    // A service manager's StandardOutput=null, `> /dev/null`, a spawner's stdio 'ignore': skip the write per batch.
    if (st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev) return null;
  } catch {
    return null;
  }
  if (st.isFIFO() || st.isSocket()) {
    const fd = (st.isFIFO() ? reopenNonBlocking(1) : null) ?? 1;
    try {
      return new StreamWriter(fd);
    } catch {
      // Not a stream libuv can poll after all: the plain fd below.
    }
  }
  if (isatty(1)) {
    const fd = reopenNonBlocking(1);
    if (fd !== null) return new FdWriter(fd, true);
  }
  return new FdWriter(1, false);
}

/** A new file description for `fd`, non-blocking, or null where that cannot be had (a socket, no /proc). */
function reopenNonBlocking(fd: number): number | null {
  try {
    return openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return null;
  }
}

/** fs.write on an fd; EAGAIN (a non-blocking fd that is full) is waited out, not an error. */
export class FdWriter implements ByteWriter {
  private closed = false;
  private writing = false;

  constructor(
    private readonly fd: number,
    /** Whether close() closes the fd: not for fd 1 itself. */
    private readonly owned: boolean,
  ) {}

  async write(bytes: Buffer): Promise<number> {
    this.writing = true;
    try {
      for (;;) {
        try {
          return await writeFd(this.fd, bytes);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || this.closed) throw err;
          await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS).unref());
        }
      }
    } finally {
      this.writing = false;
      if (this.closed) this.release();
    }
  }

  recover(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): void {
    this.closed = true;
    if (!this.writing) this.release();
  }

  private release(): void {
    if (this.owned) close(this.fd, () => undefined);
  }
}

/** A pipe or socket as a net.Socket: writes wait in the event loop, and close() abandons what is pending. */
export class StreamWriter implements ByteWriter {
  private readonly socket: net.Socket;
  private error: Error | null = null;

  constructor(fd: number) {
    this.socket = new net.Socket({ fd, readable: false, writable: true });
    // The server's listeners keep the process alive; the log must not keep it alive on its own.
    this.socket.unref();
    this.socket.on('error', (err) => (this.error ??= err));
  }

  write(bytes: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.error !== null) return reject(this.error);
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve(bytes.length)));
    });
  }

  /** A pipe or socket that failed (EPIPE: its reader is gone) does not come back. */
  recover(): Promise<boolean> {
    return Promise.resolve(this.error === null);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** fs.write as a promise of the bytes written. */
export function writeFd(fd: number, bytes: Buffer, length = bytes.length): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, bytes, 0, length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}
