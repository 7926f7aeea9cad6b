import { afterEach, describe, expect, it, vi } from 'vitest';
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
});
