import { describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { ARG_OVERHEAD_BYTES } from '../../src/protocol/sink.js';
import { RequestBacklog, SLOT_BYTES } from '../../src/frontends/tcp/session-entries.js';

describe('RequestBacklog: the requests a session read but has not run yet', () => {
  it('gives them back in the order they were read, and counts their bytes until each is taken', () => {
    const b = new RequestBacklog();
    expect(b.waiting).toBe(false);
    const refused = new KvError('SYNTAX', 'syntax error');
    b.add({ args: ['SET', 'k', 'value'] });
    b.add({ err: refused });
    b.add({ args: ['GET', 'k'] });
    const setBytes = 3 + 1 + 5 + 3 * ARG_OVERHEAD_BYTES;
    const getBytes = 3 + 1 + 2 * ARG_OVERHEAD_BYTES;
    expect(b.bytes).toBe(setBytes + SLOT_BYTES + getBytes);
    expect(b.take()).toEqual({ args: ['SET', 'k', 'value'] });
    expect(b.bytes).toBe(SLOT_BYTES + getBytes);
    expect(b.take()).toEqual({ err: refused });
    expect(b.waiting).toBe(true);
    expect(b.take()).toEqual({ args: ['GET', 'k'] });
    expect(b.waiting).toBe(false);
    expect(b.bytes).toBe(0);
  });

  it('clear() drops what waits: nothing is left to run or to count', () => {
    const b = new RequestBacklog();
    b.add({ args: ['PING'] });
    b.add({ args: ['PING'] });
    b.take();
    b.clear();
    expect(b.waiting).toBe(false);
    expect(b.bytes).toBe(0);
    b.add({ args: ['ECHO', 'x'] });
    expect(b.take()).toEqual({ args: ['ECHO', 'x'] });
  });
});
