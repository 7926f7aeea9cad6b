import net from 'node:net';
import tls from 'node:tls';

/**
 * A raw TCP client for tests: send bytes, and wait for replies by content rather
 * than by time.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** A client over TLS (README "TLS"); resolves once the handshake is done. */
  static connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ...options }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Everything received so far, as latin1 text (binary-safe). */
  get received(): string {
    return this.buf.toString('latin1');
  }

  /** Waits until the received bytes satisfy `done` (or the socket closes). */
  async until(done: (received: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.received)) {
      if (this.closed) throw new Error(`connection closed; received so far: ${JSON.stringify(this.received.slice(0, 500))}`);
      if (Date.now() > deadline) throw new Error(`timed out; received so far: ${JSON.stringify(this.received.slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.received;
  }

  /** Waits for `n` LF-terminated lines (text dialect). */
  async lines(n: number): Promise<string[]> {
    const text = await this.until((r) => r.split('\n').length > n);
    return text.split('\n').slice(0, n);
  }

  /** Sends text-dialect lines and waits for one reply line each. */
  async text(...commands: string[]): Promise<string[]> {
    const before = this.received.split('\n').length - 1;
    this.write(commands.map((c) => c + '\n').join(''));
    const all = await this.lines(before + commands.length);
    return all.slice(before);
  }

  clear(): void {
    this.buf = Buffer.alloc(0);
  }

  waitClosed(): Promise<void> {
    return this.closedPromise;
  }

  close(): void {
    this.socket.destroy();
  }
}
