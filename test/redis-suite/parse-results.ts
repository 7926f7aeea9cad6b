/**
 * Reads the output of Redis's `runtest` (one unit, external-server mode, TERM=dumb so that
 * there are no colour codes) into cases. Pure: text in, results out.
 *
 * The lines it understands come from tests/test_helper.tcl (read_from_test_client) and
 * tests/support/test.tcl:
 *   [ok]: NAME (N ms)
 *   [err]: NAME in tests/unit/X.tcl      then detail lines (with --durable, an error that is
 *                                        not an assertion is reported here with its errorInfo)
 *   [err]: MESSAGE                       an error outside any test (in a block's own code)
 *   [skip]: NAME                         skipped by --skipfile/--skiptest
 *   [ignore]: NAME: WHY | [ignore]: WHY  skipped by a tag (a test's, or a whole block's)
 *   [exception]: ...                     the test client died; the unit stopped there
 *   [TIMEOUT]: ...                       no progress for --timeout seconds; the unit stopped
 *   [1/1 done]: unit/X (N seconds)       the unit ran to its end
 */

export const CaseStatus = { ok: 'ok', err: 'err', skip: 'skip', ignore: 'ignore' } as const;
export type CaseStatus = (typeof CaseStatus)[keyof typeof CaseStatus];

export interface CaseResult {
  readonly status: CaseStatus;
  readonly name: string;
  /** err: the assertion or error text; ignore: why the tag check refused it. */
  readonly detail?: string;
}

export interface UnitOutput {
  readonly cases: CaseResult[];
  /** Tag refusals of a whole block (`start_server`/`tags`), whose tests are never named. */
  readonly ignoredBlocks: string[];
  /** Errors raised outside any test: the rest of that block did not run. */
  readonly blockErrors: string[];
  /** The test client's exception, when the unit died. */
  readonly exception: string | null;
  readonly timedOut: boolean;
  /** True when runtest reported the unit done. */
  readonly done: boolean;
}

const STATUS_LINE = /^\[(ok|err|skip|ignore|exception|TIMEOUT|\d+\/\d+ done)\]: ?(.*)$/;
const TEST_IN_FILE = /^(.*) in (tests\/\S+\.tcl)$/;
const OK_ELAPSED = / \(\d+ ms\)$/;

/** What tags_acceptable (tests/support/server.tcl) says when it refuses a test or a block. */
const IGNORE_REASONS = [
  /Tag: \S+ denied$/,
  /Tag: none of the tags allowed$/,
  /Not supported on external server$/,
  /Not supported on singledb$/,
  /Not supported in cluster mode$/,
  /Not supported in tls mode$/,
  /large memory flag not provided$/,
];

/** Lines after which nothing belongs to the unit's results (the_end repeats the failures). */
const END_OF_RESULTS = /^\s*The End\s*$/;
const NEW_UNIT = /^Testing (unit|integration)\//;

export function parseRuntestOutput(text: string): UnitOutput {
  const cases: CaseResult[] = [];
  const ignoredBlocks: string[] = [];
  const blockErrors: string[] = [];
  let exception: string | null = null;
  let timedOut = false;
  let done = false;

  // The entry whose detail lines are being collected: an err (test or block) or the exception.
  let open: { kind: 'test' | 'block' | 'exception'; head: string; lines: string[] } | null = null;
  const close = (): void => {
    if (open === null) return;
    const detail = open.lines.join('\n').trim();
    if (open.kind === 'test') cases.push({ status: CaseStatus.err, name: open.head, detail });
    else if (open.kind === 'block') blockErrors.push([open.head, detail].filter(Boolean).join('\n'));
    else exception = [open.head, detail].filter(Boolean).join('\n');
    open = null;
  };

  for (const line of text.split(/\r?\n/)) {
    if (END_OF_RESULTS.test(line)) break;
    const m = STATUS_LINE.exec(line);
    if (m === null) {
      if (open !== null && !NEW_UNIT.test(line)) open.lines.push(line);
      continue;
    }
    close();
    const status = m[1] as string;
    const rest = m[2] as string;
    if (status === 'ok') {
      cases.push({ status: CaseStatus.ok, name: rest.replace(OK_ELAPSED, '') });
    } else if (status === 'skip') {
      cases.push({ status: CaseStatus.skip, name: rest });
    } else if (status === 'ignore') {
      const reason = IGNORE_REASONS.map((r) => r.exec(rest)).find((x) => x !== null);
      const why = reason ? reason[0] : rest;
      const name = reason ? rest.slice(0, rest.length - why.length).replace(/: $/, '') : '';
      if (name === '') ignoredBlocks.push(why);
      else cases.push({ status: CaseStatus.ignore, name, detail: why });
    } else if (status === 'err') {
      const t = TEST_IN_FILE.exec(rest);
      open = t ? { kind: 'test', head: t[1] as string, lines: [] } : { kind: 'block', head: rest, lines: [] };
    } else if (status === 'exception') {
      open = { kind: 'exception', head: rest, lines: [] };
    } else if (status === 'TIMEOUT') {
      timedOut = true;
    } else {
      done = true;
    }
  }
  close();
  return { cases, ignoredBlocks, blockErrors, exception, timedOut, done };
}
