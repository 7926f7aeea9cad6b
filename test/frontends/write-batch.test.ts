import { describe, expect, it } from 'vitest';
import { WriteBatch, type BatchedOutput } from '../../src/frontends/tcp/write-batch.js';

describe('WriteBatch', () => {
  it('flushes what was added once the I/O callbacks of the turn have run, each output once, in the order added', async () => {
    const batch = new WriteBatch();
    const flushed: string[] = [];
    const out = (name: string): BatchedOutput => ({ flushHeld: () => void flushed.push(name) });
    batch.add(out('a'));
    batch.add(out('b'));
    expect(flushed).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(flushed).toEqual(['a', 'b']);
  });

  it('an output added while the batch flushes is flushed on the next turn, not lost', async () => {
    const batch = new WriteBatch();
    const flushed: string[] = [];
    const late: BatchedOutput = { flushHeld: () => void flushed.push('late') };
    batch.add({
      flushHeld: () => {
        flushed.push('first');
        batch.add(late);
      },
    });
    await new Promise((r) => setImmediate(r));
    expect(flushed).toEqual(['first']);
    await new Promise((r) => setImmediate(r));
    expect(flushed).toEqual(['first', 'late']);
  });
});
