import { CaseStatus, type CaseResult, type UnitOutput } from './parse-results.js';
import { entryMatches, type SkipEntry, type TagEntry } from './skip-list.js';

/**
 * One unit's results held against the skip list. Pure. A unit fails when a case fails, when it
 * did not run to its end, or when a listed skip matched nothing (a stale entry).
 */
export interface UnitVerdict {
  readonly unit: string;
  readonly passed: number;
  readonly failed: CaseResult[];
  /** Errors outside tests, the exception, a timeout, or a unit that never said done. */
  readonly aborted: readonly string[];
  /** Skipped tests and ignored blocks, counted by category. */
  readonly skippedByCategory: ReadonlyMap<string, number>;
  readonly skipped: number;
  /** Whole blocks refused by a tag: their tests are never named, so they count as one each. */
  readonly ignoredBlocks: number;
  readonly stale: SkipEntry[];
  readonly ok: boolean;
}

/** What tags_acceptable's refusals mean, for the ones the skip list does not deny itself. */
const SUITE_OWN_SKIPS: ReadonlyArray<[RegExp, string]> = [
  [/Not supported on external server/, 'external-skip'],
  [/Not supported on singledb/, 'singledb'],
  [/large memory flag not provided/, 'large-memory'],
];

function categoryOfIgnore(why: string, tags: readonly TagEntry[]): string {
  const denied = /Tag: (\S+) denied/.exec(why)?.[1];
  if (denied !== undefined) return tags.find((t) => t.tag === `-${denied}`)?.category ?? `tag ${denied}`;
  return SUITE_OWN_SKIPS.find(([re]) => re.test(why))?.[1] ?? why;
}

/**
 * `stopped` adds what the runner itself saw go wrong (runtest killed, or a non-zero exit with
 * nothing in its output to say why).
 */
export function evaluateUnit(
  unit: string,
  out: UnitOutput,
  entries: readonly SkipEntry[],
  tags: readonly TagEntry[],
  stopped: readonly string[] = [],
): UnitVerdict {
  const listed = entries.filter((e) => e.unit === unit);
  const counts = new Map<string, number>();
  const count = (category: string): void => void counts.set(category, (counts.get(category) ?? 0) + 1);
  const used = new Set<SkipEntry>();
  let passed = 0;
  let skipped = 0;
  const failed: CaseResult[] = [];

  for (const c of out.cases) {
    if (c.status === CaseStatus.ok) passed++;
    else if (c.status === CaseStatus.err) failed.push(c);
    else if (c.status === CaseStatus.skip) {
      skipped++;
      const entry = listed.find((e) => entryMatches(e, c.name));
      if (entry) used.add(entry);
      count(entry?.category ?? 'not-listed');
    } else {
      skipped++;
      count(categoryOfIgnore(c.detail ?? '', tags));
    }
  }
  for (const why of out.ignoredBlocks) count(`${categoryOfIgnore(why, tags)} (block)`);

  const aborted = [...out.blockErrors.map((e) => `error outside a test: ${e}`), ...stopped];
  if (out.exception !== null) aborted.push(`the test client died: ${out.exception}`);
  if (out.timedOut) aborted.push('no progress within runtest --timeout; the unit was stopped');
  if (!out.done && out.exception === null && !out.timedOut && stopped.length === 0) aborted.push('runtest did not report the unit done');

  // A stale entry is only certain when the unit ran to its end.
  const ranToEnd = out.done && out.exception === null && !out.timedOut;
  const stale = ranToEnd ? listed.filter((e) => !used.has(e)) : [];
  return {
    unit,
    passed,
    failed,
    aborted,
    skippedByCategory: counts,
    skipped,
    ignoredBlocks: out.ignoredBlocks.length,
    stale,
    ok: failed.length === 0 && aborted.length === 0 && stale.length === 0,
  };
}

/** A one-line guess at why a case failed, from its error text (the report's reason column). */
export function classifyFailure(detail: string): string {
  const cmd = /unknown command '([^']*)'/i.exec(detail)?.[1];
  if (cmd !== undefined) return `missing command ${cmd.toUpperCase()}`;
  const sub = /unknown subcommand '([^']*)'/i.exec(detail)?.[1] ?? /unknown subcommand or wrong number of arguments for '([^']*)'/i.exec(detail)?.[1];
  if (sub !== undefined) return `missing subcommand ${sub.toUpperCase()}`;
  const arity = /wrong number of arguments for '([^']*)'/i.exec(detail)?.[1];
  if (arity !== undefined) return `arguments refused by ${arity.toUpperCase()}`;
  const head = firstLine(detail);
  if (/\bsyntax error\b/i.test(head)) return 'syntax error (an option not understood)';
  if (/^Expected /.test(head)) return 'wrong reply';
  if (/I\/O error|connection reset|broken pipe|connection refused|\bEOF\b/i.test(head)) return 'connection closed or refused';
  return 'error';
}

/** The first line of an error's text worth showing (the assertion, or the server's error). */
export function firstLine(detail: string): string {
  const lines = detail.split('\n').filter((l) => l.trim() !== '');
  const [head = '', next] = lines;
  // With --durable, test.tcl drops the first 10 characters of an error that is not an assertion
  // (it assumes an "assertion:" prefix) and adds $::errorInfo, whose first line is whole.
  const whole = next !== undefined && next.endsWith(head) ? next : head;
  return whole.trim().slice(0, 300);
}
