import { describe, expect, it } from 'vitest';
import { checkExecReplies, checkReadBack, transactionWrites } from '../../bench/lib/exec-replies.js';

const oks = (n: number): Array<[Error | null, unknown]> => Array.from({ length: n }, () => [null, 'OK']);

describe("bench:multi's check of an EXEC", () => {
  it('passes 10 OKs for 10 SETs', () => {
    expect(checkExecReplies(oks(10), 10)).toBeNull();
  });

  it.each([
    ['an aborted EXEC', null, 'EXEC returned a null array (the transaction was aborted)'],
    ['too few replies', oks(9), 'EXEC returned 9 replies, not 10'],
    ['an error reply', [...oks(3), [new Error('OOM command not allowed'), undefined], ...oks(6)], 'reply 4 of 10 is an error: OOM command not allowed'],
    ['a reply other than OK', [...oks(9), [null, 'QUEUED']], 'reply 10 of 10 is "QUEUED", not "OK"'],
  ] as const)('names %s', (_what, result, message) => {
    expect(checkExecReplies(result as Array<[Error | null, unknown]> | null, 10)).toBe(message);
  });
});

describe("bench:multi's read back", () => {
  const writes = transactionWrites('r0d1', 7, 3);

  it('gives each SET of a transaction its own key and value', () => {
    expect(writes).toEqual([
      ['r0d1:7:0', '7.0'],
      ['r0d1:7:1', '7.1'],
      ['r0d1:7:2', '7.2'],
    ]);
  });

  it('passes when MGET reads back every value', () => {
    expect(checkReadBack(writes, ['7.0', '7.1', '7.2'])).toBeNull();
  });

  it('names the first key missing or holding something else', () => {
    expect(checkReadBack(writes, ['7.0', null, '7.2'])).toBe('r0d1:7:1 holds null, not "7.1"');
    expect(checkReadBack(writes, ['7.0', '7.1', '8.2'])).toBe('r0d1:7:2 holds "8.2", not "7.2"');
    expect(checkReadBack(writes, ['7.0'])).toBe('MGET returned 1 values for 3 keys');
  });
});
