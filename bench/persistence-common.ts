/**
 * Plumbing shared by the persistence benchmarks: the 1M-key load file (16-byte keys,
 * 100-byte values), a waiter for PING, a tiny pipelining RESP client that timestamps
 * each reply, and percentiles.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Key i as 16 bytes: `key:` and 12 digits. */
export function keyOf(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/**
 * Printable noise, so that neither server gains from compressing the values (Redis
 * LZF-compresses RDB strings; a run of one letter would flatter it).
 */
const NOISE = (() => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let x = 0x9e3779b9;
  let s = '';
  for (let i = 0; i < 1 << 20; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += alphabet[(x >>> 0) % 64];
  }
  return s;
})();

/** A value of `size` bytes that depends on the key and a generation number. */
export function valueOf(i: number, generation: number, size: number): string {
  const tail = `:${generation}:${i}`;
  const start = ((i * 7919 + generation * 104_729) >>> 0) % (NOISE.length - size);
  return (NOISE.slice(start, start + Math.max(0, size - tail.length)) + tail).slice(-size);
}

/** Writes RESP SET commands for keys [from, to) to `file`, for `redis-cli --pipe`. */
export async function writeLoadFile(file: string, from: number, to: number, generation: number, valueSize: number): Promise<void> {
  const out = createWriteStream(file);
  let batch = '';
  for (let i = from; i < to; i++) {
    const k = keyOf(i);
    const v = valueOf(i, generation, valueSize);
    batch += `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n${v}\r\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

export function pipeLoad(port: number, file: string): void {
  execFileSync('sh', ['-c', `redis-cli -h 127.0.0.1 -p ${port} --pipe < '${file}'`], { stdio: ['ignore', 'ignore', 'inherit'] });
}

export function redisCli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

export function infoNumber(port: number, field: string, section = 'persistence'): number {
  const m = new RegExp(`^${field}:(-?[\\d.]+)`, 'm').exec(redisCli(port, 'info', section));
  return m ? Number(m[1]) : NaN;
}

/**
 * Resolves with the ms from `since` until the server answers PING with PONG. Redis
 * accepts connections while it loads and answers -LOADING; kv-server listens only
 * once loaded. Either way, PONG means "serving".
 */
export async function waitForPong(port: number, since: number, timeoutMs = 300_000): Promise<number> {
  const deadline = since + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let buf = '';
      s.setNoDelay(true);
      s.once('connect', () => s.write('*1\r\n$4\r\nPING\r\n'));
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n')) {
          s.destroy();
          resolve(buf.startsWith('+PONG'));
        }
      });
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(false));
    });
    if (ok) return performance.now() - since;
    if (performance.now() > deadline) throw new Error(`no PONG on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * One connection with many requests in flight. Replies are matched to requests in
 * order (RESP has no ids); each completion reports its latency in ms.
 */
export class TimedConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly inflight: Array<{ sent: number; done: (ms: number, error: boolean) => void }> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
  }

  static open(port: number): Promise<TimedConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new TimedConnection(s)));
      s.once('error', reject);
    });
  }

  get pending(): number {
    return this.inflight.length;
  }

  send(command: Buffer, done: (ms: number, error: boolean) => void): void {
    this.inflight.push({ sent: performance.now(), done });
    this.socket.write(command);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let p = 0;
    for (;;) {
      const end = replyEnd(this.buf, p);
      if (end < 0) break;
      const error = this.buf[p] === 0x2d; // '-'
      p = end;
      const req = this.inflight.shift();
      req?.done(performance.now() - req.sent, error);
    }
    this.buf = p === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(p);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** End offset of the simple or bulk RESP reply at `p`, or -1 if it is not all here. */
function replyEnd(b: Buffer, p: number): number {
  const eol = b.indexOf('\r\n', p, 'latin1');
  if (eol < 0) return -1;
  if (b[p] !== 0x24) return eol + 2; // '+', '-', ':'
  const len = Number(b.toString('latin1', p + 1, eol));
  if (len < 0) return eol + 2;
  const end = eol + 2 + len + 2;
  return end <= b.length ? end : -1;
}

export function respCommand(...args: string[]): Buffer {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`;
  return Buffer.from(s, 'latin1');
}

/** The p-th percentile (0-100) of an unsorted array of numbers (sorts a copy). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function max(values: number[]): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return values.length ? m : NaN;
}

export function ms(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
