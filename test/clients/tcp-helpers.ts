import net from 'node:net';

/** A port where nothing listens: bound by us, then released. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * A TCP server that plays a scripted server: it collects what clients send and
 * answers only what the test tells it to (by default, nothing at all).
 */
export class FakeServer {
  readonly sockets: net.Socket[] = [];
  received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly srv: net.Server,
    readonly port: number,
  ) {}

  static async start(onData?: (socket: net.Socket, received: Buffer) => void): Promise<FakeServer> {
    let fake: FakeServer | undefined;
    const srv = net.createServer((socket) => {
      const f = fake as FakeServer;
      f.sockets.push(socket);
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        f.received = Buffer.concat([f.received, chunk]);
        onData?.(socket, f.received);
        f.wake();
      });
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    fake = new FakeServer(srv, (srv.address() as net.AddressInfo).port);
    return fake;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until the bytes received so far satisfy `done`. */
  async until(done: (received: string) => boolean): Promise<void> {
    while (!done(this.received.toString('latin1'))) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.srv.close(() => resolve()));
  }
}
