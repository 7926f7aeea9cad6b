import { afterEach, describe, expect, it, vi } from 'vitest';
import { LineBatcher, type ChunkSink } from '../src/line-batcher.js';
import { LOG_RETRY_MS, LogDestination, type ByteWriter, type DestinationEvents } from '../src/log-destination.js';

/** A writer scripted call by call: each write takes the next step (default: write everything). */
class FakeWriter implements ByteWriter {
  readonly writes: Buffer[] = [];
  steps: Array<'all' | 'half' | 'hang' | Error> = [];
  recoverable = true;
  recovers = 0;
  closed = false;

  write(bytes: Buffer): Promise<number> {
    const step = this.steps.shift() ?? 'all';
    if (step === 'hang') return new Promise(() => undefined);
    if (step instanceof Error) return Promise.reject(step);
    const n = step === 'half' ? Math.ceil(bytes.length / 2) : bytes.length;
    this.writes.push(Buffer.from(bytes.subarray(0, n)));
    return Promise.resolve(n);
  }

  recover(): Promise<boolean> {
    this.recovers++;
    return Promise.resolve(this.recoverable);
  }

  close(): void {
    this.closed = true;
  }

  get text(): string {
    return Buffer.concat(this.writes).toString();
  }
}

/** `n` lines of `size` bytes each (the last byte a newline), numbered so that order shows. */
function chunk(id: number, lines = 10, size = 100): Buffer {
  let s = '';
  for (let i = 0; i < lines; i++) s += `${id}.${i} `.padEnd(size - 1, 'x') + '\n';
  return Buffer.from(s);
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
}

describe('a log destination', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function destination(writer: FakeWriter, maxBacklog: number) {
    const ev = { dropped: 0, failures: [] as Error[], recoveries: 0 };
    const sink: DestinationEvents = {
      dropped: (_d, lines) => void (ev.dropped += lines),
      failed: (_d, err) => void ev.failures.push(err),
      recovered: () => void ev.recoveries++,
    };
    return { dest: new LogDestination('file', writer, maxBacklog, sink), ev };
  }

  it('that never finishes a write holds at most its backlog bound, and drops and counts whole chunks past it', async () => {
    const writer = new FakeWriter();
    writer.steps = ['hang'];
    const { dest, ev } = destination(writer, 10_000);
    for (let i = 0; i < 100; i++) dest.push(chunk(i), 10);
    expect(dest.backlogBytes).toBe(10_000);
    expect(dest.linesDropped).toBe(900);
    expect(ev.dropped).toBe(900);
    // close() is bounded: it waits out its timeout, drops the rest and lets go of the writer.
    await dest.close(20);
    expect(dest.linesDropped).toBe(1000);
    expect(dest.backlogBytes).toBe(0);
    expect(writer.closed).toBe(true);
  });

  it('takes a chunk bigger than its whole bound when nothing else waits (a single long line)', () => {
    const writer = new FakeWriter();
    writer.steps = ['hang'];
    const { dest } = destination(writer, 1000);
    dest.push(chunk(0, 1, 5000), 1);
    dest.push(chunk(1, 1, 10), 1);
    expect([dest.backlogBytes, dest.linesDropped]).toEqual([5000, 1]);
  });

  it('joins the chunks that queued behind a write into the next write, in order', async () => {
    const writer = new FakeWriter();
    const { dest } = destination(writer, 1 << 20);
    for (let i = 0; i < 5; i++) dest.push(chunk(i), 10);
    await new Promise<void>((resolve) => dest.whenWritten(resolve));
    expect(writer.writes.map((w) => w.length)).toEqual([1000, 4000]);
    expect(writer.text).toBe([0, 1, 2, 3, 4].map((i) => chunk(i).toString()).join(''));
    expect(dest.linesWritten).toBe(50);
  });

  it('that fails counts the error, reports it once, retries no sooner than a second later, and goes on from where it stopped', async () => {
    vi.useFakeTimers();
    const writer = new FakeWriter();
    writer.steps = ['half', enospc(), enospc()];
    const { dest, ev } = destination(writer, 1 << 20);
    dest.push(chunk(0), 10);
    await vi.advanceTimersByTimeAsync(0);
    expect([dest.writeErrors, ev.failures.length, dest.isFailing]).toEqual([1, 1, true]);
    expect((ev.failures[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
    // Lines keep queueing, within the bound, while it fails.
    dest.push(chunk(1), 10);
    await vi.advanceTimersByTimeAsync(LOG_RETRY_MS - 1);
    expect(writer.recovers).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect([writer.recovers, dest.writeErrors, ev.failures.length]).toEqual([1, 2, 1]);
    await vi.advanceTimersByTimeAsync(LOG_RETRY_MS);
    expect([writer.recovers, dest.isFailing, ev.recoveries]).toEqual([2, false, 1]);
    // Nothing lost, nothing written twice.
    expect(writer.text).toBe(chunk(0).toString() + chunk(1).toString());
    expect([dest.linesWritten, dest.linesDropped, dest.backlogBytes]).toEqual([20, 0, 0]);
  });

  it('whose writer can never write again drops everything from then on, counted', async () => {
    vi.useFakeTimers();
    const writer = new FakeWriter();
    writer.steps = [Object.assign(new Error('EPIPE: broken pipe, write'), { code: 'EPIPE' })];
    writer.recoverable = false;
    const { dest } = destination(writer, 1 << 20);
    dest.push(chunk(0), 10);
    await vi.advanceTimersByTimeAsync(LOG_RETRY_MS);
    dest.push(chunk(1), 10);
    expect([dest.linesDropped, dest.backlogBytes, dest.isFailing, writer.writes.length]).toEqual([20, 0, true, 0]);
  });

  it('that fails at close tries once more at once, then gives up without waiting out its timeout', async () => {
    const writer = new FakeWriter();
    writer.steps = [enospc(), enospc()];
    const { dest } = destination(writer, 1 << 20);
    dest.push(chunk(0), 10);
    await vi.waitFor(() => expect(dest.writeErrors).toBe(1));
    // A timeout far longer than any test: the second failure ends the close.
    await dest.close(60_000);
    expect([dest.writeErrors, dest.linesDropped, writer.closed]).toEqual([2, 10, true]);
  });

  it('tells a flush waiter once what was pushed before it is written or dropped', async () => {
    const writer = new FakeWriter();
    writer.steps = ['hang'];
    const { dest } = destination(writer, 1 << 20);
    dest.push(chunk(0), 10);
    let told = false;
    dest.whenWritten(() => (told = true));
    expect(told).toBe(false);
    await dest.close(10);
    expect(told).toBe(true);
  });

  it('gives each chunk back once it no longer reads it: written, joined into a write, or dropped', async () => {
    const writer = new FakeWriter();
    let finishFirst: (n: number) => void = () => undefined;
    writer.write = (bytes: Buffer) => {
      writer.writes.push(Buffer.from(bytes));
      return writer.writes.length === 1 ? new Promise<number>((resolve) => (finishFirst = resolve)) : Promise.resolve(bytes.length);
    };
    const { dest } = destination(writer, 3500);
    const given: number[] = [];
    dest.push(chunk(0), 10, () => given.push(0));
    dest.push(chunk(1), 10, () => given.push(1));
    dest.push(chunk(2), 10, () => given.push(2));
    // Past the bound: dropped at once, and given back at once.
    dest.push(chunk(3), 10, () => given.push(3));
    expect(given).toEqual([3]);
    // Chunk 0 is being written: it stays held until the write ends.
    finishFirst(1000);
    await new Promise<void>((resolve) => dest.whenWritten(resolve));
    // 1 and 2 were copied into one write, and given back as they were copied.
    expect(given).toEqual([3, 0, 1, 2]);
    expect(writer.text).toBe([0, 1, 2].map((i) => chunk(i).toString()).join(''));
  });

  it('dropped at close while its writer still reads a chunk, gives that chunk back only when the write ends', async () => {
    const writer = new FakeWriter();
    let finish: (n: number) => void = () => undefined;
    writer.write = () => new Promise<number>((resolve) => (finish = resolve));
    const { dest } = destination(writer, 1 << 20);
    const given: number[] = [];
    dest.push(chunk(0), 10, () => given.push(0));
    dest.push(chunk(1), 10, () => given.push(1));
    await dest.close(10);
    expect(given).toEqual([1]);
    finish(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(given).toEqual([1, 0]);
  });

  it('that failed part way through a joined write goes on from where it stopped, joining what came since behind it', async () => {
    vi.useFakeTimers();
    const writer = new FakeWriter();
    writer.steps = ['all', 'half', enospc(), 'all'];
    const { dest } = destination(writer, 1 << 20);
    dest.push(chunk(0), 10);
    dest.push(chunk(1), 10);
    dest.push(chunk(2), 10);
    await vi.advanceTimersByTimeAsync(0);
    dest.push(chunk(3), 10);
    dest.push(chunk(4), 10);
    await vi.advanceTimersByTimeAsync(LOG_RETRY_MS);
    await vi.advanceTimersByTimeAsync(LOG_RETRY_MS);
    expect(writer.text).toBe([0, 1, 2, 3, 4].map((i) => chunk(i).toString()).join(''));
    expect(dest.linesWritten).toBe(50);
  });
});

describe('a line batcher', () => {
  /** A sink that keeps each chunk and its `done`, to give back when the test says. */
  function holdingSink() {
    const held: Array<{ bytes: Buffer; text: string; done: (() => void) | undefined }> = [];
    const sink: ChunkSink = {
      push: (bytes, _lines, done) => void held.push({ bytes, text: bytes.toString(), done }),
      whenWritten: (cb) => cb(),
    };
    return { sink, held };
  }

  it('reuses a chunk only once every destination has given it back, and never changes one still held', () => {
    const a = holdingSink();
    const b = holdingSink();
    const batcher = new LineBatcher([a.sink, b.sink]);
    try {
      batcher.write('first line\n');
      batcher.flush();
      const first = a.held[0]!;
      first.done?.();
      // b still holds it: the next chunks are others, and the first one's bytes stay as they were.
      for (let i = 0; i < 3; i++) {
        batcher.write(`line ${i}\n`.repeat(100));
        batcher.flush();
      }
      expect(first.bytes.toString()).toBe('first line\n');
      expect(b.held[0]!.bytes.toString()).toBe('first line\n');
      expect(a.held.slice(1).some((h) => h.bytes.buffer === first.bytes.buffer)).toBe(false);
      // A second `done` from the same destination does not count as the other's.
      first.done?.();
      batcher.write('after\n');
      batcher.flush();
      expect(a.held[4]!.bytes.buffer).not.toBe(first.bytes.buffer);
      // Once b gives it back too, it is used again.
      b.held[0]!.done?.();
      for (const h of [...a.held.slice(1), ...b.held.slice(1)]) h.done?.();
      // The chunk being filled was taken before they came back; the one after it is one of them.
      batcher.write('not yet\n');
      batcher.flush();
      batcher.write('reused\n');
      batcher.flush();
      const buffers = new Set([first.bytes.buffer, ...a.held.slice(1, 5).map((h) => h.bytes.buffer)]);
      expect(buffers.has(a.held[5]!.bytes.buffer)).toBe(false);
      expect(buffers.has(a.held[6]!.bytes.buffer)).toBe(true);
      expect(a.held[6]!.bytes.toString()).toBe('reused\n');
      // What each destination was handed is what was written, chunk by chunk.
      expect(a.held.map((h) => h.text)).toEqual(b.held.map((h) => h.text));
    } finally {
      batcher.close();
    }
  });
});
