/**
 * What bench:multi checks of each transaction, pure so that tests feed it
 * replies: an EXEC of n SETs answers n OKs, and the keys read back hold what the
 * transaction wrote.
 */

/** ioredis's exec() result: null when EXEC aborted (WATCH), else one [error, reply] per queued command. */
export type ExecResult = Array<[Error | null, unknown]> | null;

/** null when `result` is `expected` OKs, else what was wrong, in a line. */
export function checkExecReplies(result: ExecResult, expected: number): string | null {
  if (result === null) return 'EXEC returned a null array (the transaction was aborted)';
  if (result.length !== expected) return `EXEC returned ${result.length} replies, not ${expected}`;
  for (const [i, [err, reply]] of result.entries()) {
    if (err !== null) return `reply ${i + 1} of ${expected} is an error: ${err.message}`;
    if (reply !== 'OK') return `reply ${i + 1} of ${expected} is ${JSON.stringify(reply)}, not "OK"`;
  }
  return null;
}

/** The keys and values transaction `id` of a run writes: `sets` of them, each its own. */
export function transactionWrites(prefix: string, id: number, sets: number): Array<[string, string]> {
  return Array.from({ length: sets }, (_, j) => [`${prefix}:${id}:${j}`, `${id}.${j}`]);
}

/** null when an MGET of a transaction's keys read back its values, else the first difference. */
export function checkReadBack(writes: ReadonlyArray<readonly [string, string]>, read: ReadonlyArray<string | null>): string | null {
  if (read.length !== writes.length) return `MGET returned ${read.length} values for ${writes.length} keys`;
  for (const [i, [key, value]] of writes.entries()) {
    if (read[i] !== value) return `${key} holds ${JSON.stringify(read[i])}, not ${JSON.stringify(value)}`;
  }
  return null;
}
