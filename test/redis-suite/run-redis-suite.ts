import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findOnPath } from '../helpers/peers.js';
import { classifyFailure, evaluateUnit, firstLine, type UnitVerdict } from './evaluate.js';
import { applyHarnessPatches, HARNESS_PATCHES } from './patch-harness.js';
import { parseRuntestOutput } from './parse-results.js';
import { kvServerIn } from '../../bench/lib/procs.js';
import { LOOPBACK, startDualkv, startRedisServer, type SuiteServer } from './servers.js';
import { parseSkipList, renderSkipFile } from './skip-list.js';

/** The units the issue asks for, in the order runtest lists them, and unit/type/incr for the counters. */
export const DEFAULT_UNITS = [
  'unit/protocol',
  'unit/keyspace',
  'unit/scan',
  'unit/info-command',
  'unit/type/string',
  'unit/type/incr',
  'unit/expire',
  'unit/multi',
  'unit/quit',
  'unit/introspection',
] as const;

/** runtest's own no-progress timeout, per unit: a command that never answers stops its unit. */
const RUNTEST_TIMEOUT_SEC = 120;
/** Our bound on one unit, in case runtest itself hangs. */
const UNIT_TIMEOUT_MS = 10 * 60_000;
/** runtest's names for tclsh (its first lines look for these). */
const TCLSH_NAMES = ['tclsh8.7', 'tclsh8.6', 'tclsh8.5'];

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
}

const USAGE = `Usage: npm run test:redis-suite -- [options]

Runs units of Redis 7.0's own test suite (tests/ + runtest) against a fresh kv-server per unit,
and compares the results with test/redis-suite/skip-list.txt.

  --control         run against a real redis-server instead (same skip list, same patches)
  --dualkv DIR      run the kv-server built in another checkout (DIR/dist/src/kv-server.js), e.g. an
                    export of main; the skip list is still this repository's
  --units A,B       only these units (default: ${DEFAULT_UNITS.join(',')})
  --suite DIR       the suite copy (default: KV_REDIS_TESTS, else ../shared/redis-7.0-tests
                    beside the repository)
  --report FILE     also write every failing case, with a guessed reason, to FILE
  --verbose         print runtest's output as it runs
  --keep            keep the temporary directory (suite copy, logs, server data)
  -h, --help

Exit: 0 when every unit passes (outside CI, also when the suite or tclsh is missing, which it
says); 1 when a case fails or errors, a unit stops early, or a skip-list entry is stale; 2 for
a usage error or when the run cannot start.`;

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dualkv') return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the dualkv repository root above this script');
}

function inCi(env: NodeJS.ProcessEnv): boolean {
  return env.CI === 'true' || env.CI === '1';
}

/** Makes the copy writable (the pinned suite is read-only, and runtest writes tests/tmp). */
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) makeWritable(p);
    else chmodSync(p, st.mode | 0o200);
  }
}

interface RuntestRun {
  readonly output: string;
  readonly code: number | null;
  readonly killed: boolean;
}

/** The run in progress, so that a signal can stop it (its own process group and server). */
interface Current {
  runtestPid?: number;
  server?: SuiteServer;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function runRuntest(suite: string, args: string[], current: Current, io: Io, verbose: boolean): Promise<RuntestRun> {
  return new Promise((resolve, reject) => {
    // TERM=dumb: no colour codes in the lines we parse (util.tcl colours only *xterm*).
    const child = spawn('./runtest', args, { cwd: suite, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...io.env, TERM: 'dumb' } });
    current.runtestPid = child.pid;
    const chunks: string[] = [];
    const take = (d: Buffer): void => {
      const s = d.toString('utf8');
      chunks.push(s);
      if (verbose) io.out(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      killGroup(child.pid);
    }, UNIT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      // runtest's test client is a second tclsh in the same group; make sure none outlives it.
      killGroup(child.pid);
      current.runtestPid = undefined;
      resolve({ output: chunks.join(''), code, killed });
    });
  });
}

function formatCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');
}

function printVerdict(v: UnitVerdict, seconds: number, io: Io): void {
  const pad = (n: number, w: number): string => String(n).padStart(w);
  const blocks = v.ignoredBlocks > 0 ? ` (+${v.ignoredBlocks} block${v.ignoredBlocks > 1 ? 's' : ''})` : '';
  io.out(`${v.ok ? 'PASS' : 'FAIL'}  ${v.unit.padEnd(20)} ${pad(v.passed, 4)} passed ${pad(v.failed.length, 4)} failed ${pad(v.skipped, 4)} skipped${blocks}  ${seconds.toFixed(1)} s\n`);
  if (v.skippedByCategory.size > 0) io.out(`        skipped by reason: ${formatCounts(v.skippedByCategory)}\n`);
  for (const c of v.failed) io.out(`        failed: ${c.name}\n                ${classifyFailure(c.detail ?? '')}: ${firstLine(c.detail ?? '')}\n`);
  for (const a of v.aborted) io.out(`        stopped: ${firstLine(a)}\n`);
  for (const s of v.stale) {
    io.out(`        stale: skip-list.txt line ${s.line} ("${s.pattern}") matched no case of ${s.unit}; remove it\n`);
  }
}

function renderReport(verdicts: readonly UnitVerdict[], against: string, times: ReadonlyMap<string, number>): string {
  const lines = [`Redis 7.0 test suite (external-server mode) against ${against}, ${new Date().toISOString()}`, ''];
  for (const v of verdicts) {
    lines.push(`${v.unit}: ${v.passed} passed, ${v.failed.length} failed, ${v.skipped} skipped (${formatCounts(v.skippedByCategory) || 'none'}), ${(times.get(v.unit) ?? 0).toFixed(1)} s`);
    for (const c of v.failed) {
      lines.push(`  - ${c.name}`, `      reason: ${classifyFailure(c.detail ?? '')}`, `      error:  ${firstLine(c.detail ?? '')}`);
    }
    for (const a of v.aborted) lines.push(`  ! ${firstLine(a)}`);
    for (const s of v.stale) lines.push(`  ? stale skip-list entry, line ${s.line}: ${s.pattern}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Checks what the run needs; returns a message when it cannot run (a skip outside CI). */
function missingPrerequisite(suite: string, control: boolean): string | null {
  if (!existsSync(path.join(suite, 'runtest')) || !existsSync(path.join(suite, 'tests/test_helper.tcl'))) {
    return `the Redis 7.0 test suite is not at ${suite} (set KV_REDIS_TESTS=/path/to/redis-7.0-tests or --suite)`;
  }
  if (!TCLSH_NAMES.some((n) => findOnPath(n) !== null)) return 'tclsh 8.5+ is not installed (apt-get install -y tcl)';
  if (control && findOnPath('redis-server') === null) return 'redis-server is not installed (apt-get install -y redis-server)';
  return null;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let opts;
  try {
    opts = parseArgs({
      args: argv,
      options: {
        control: { type: 'boolean', default: false },
        dualkv: { type: 'string' },
        units: { type: 'string' },
        suite: { type: 'string' },
        report: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    io.err(`redis-suite: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const root = repoRoot();
  const suite = path.resolve(opts.suite ?? io.env.KV_REDIS_TESTS ?? path.join(root, '..', 'shared', 'redis-7.0-tests'));
  const units = opts.units ? opts.units.split(',').map((u) => u.trim()).filter(Boolean) : [...DEFAULT_UNITS];
  const serverRoot = path.resolve(opts.dualkv ?? root);
  const against = opts.control ? 'redis-server' : opts.dualkv ? `dualkv (${serverRoot})` : 'dualkv';

  const missing = missingPrerequisite(suite, opts.control);
  if (missing !== null) {
    if (inCi(io.env)) {
      io.err(`redis-suite: ${missing}; .ci/run provides it, so under CI the suite may not skip\n`);
      return 2;
    }
    io.err(`redis-suite: skipping Redis's test suite: ${missing}\n`);
    return 0;
  }
  if (!opts.control && !existsSync(kvServerIn(serverRoot))) {
    io.err(`redis-suite: ${serverRoot}/dist/src/kv-server.js is missing: run \`npm run build\` there first (npm run test:redis-suite does here)\n`);
    return 2;
  }
  const skipListPath = path.join(root, 'test/redis-suite/skip-list.txt');
  const skip = parseSkipList(readFileSync(skipListPath, 'utf8'));
  const unknownUnits = [...new Set(skip.cases.map((c) => c.unit))].filter((u) => !existsSync(path.join(suite, 'tests', `${u}.tcl`)));
  if (unknownUnits.length > 0) {
    io.err(`redis-suite: skip-list.txt names units the suite does not have: ${unknownUnits.join(', ')}\n`);
    return 2;
  }
  for (const u of units) {
    if (!existsSync(path.join(suite, 'tests', `${u}.tcl`))) {
      io.err(`redis-suite: no unit ${u} in ${suite}/tests\n`);
      return 2;
    }
  }
  const redisBin = findOnPath('redis-server');
  if (opts.control && redisBin !== null) {
    const v = spawnSync(redisBin, ['--version'], { encoding: 'utf8' }).stdout.trim();
    io.out(`redis-suite: control run against ${redisBin} (${v})\n`);
    if (!/v=7\.0\./.test(v)) io.out('redis-suite: warning: the suite is Redis 7.0\'s; this redis-server is not 7.0\n');
  }

  const tmp = mkdtempSync(path.join(tmpdir(), 'dualkv-redis-suite-'));
  const copy = path.join(tmp, 'suite');
  const current: Current = {};
  const onSignal = (signal: NodeJS.Signals): void => {
    killGroup(current.runtestPid);
    void (current.server?.stop() ?? Promise.resolve()).finally(() => {
      if (!opts.keep) rmSync(tmp, { recursive: true, force: true });
      io.err(`redis-suite: stopped by ${signal}\n`);
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const verdicts: UnitVerdict[] = [];
  const times = new Map<string, number>();
  const started = Date.now();
  try {
    cpSync(suite, copy, { recursive: true });
    makeWritable(copy);
    applyHarnessPatches(copy);
    const tags = skip.tags.map((t) => t.tag).join(' ');
    io.out(`redis-suite: ${units.length} unit(s) from ${suite} against ${against}\n`);
    io.out(`redis-suite: --tags "${tags}"; ${skip.cases.length} listed case(s); ${HARNESS_PATCHES.length} harness patches (test/redis-suite/patch-harness.ts)\n`);
    mkdirSync(path.join(tmp, 'logs'));

    for (const unit of units) {
      const slug = unit.replace(/\//g, '_');
      const unitStart = Date.now();
      const serverDir = path.join(tmp, 'servers', slug);
      current.server = opts.control ? await startRedisServer(redisBin as string, serverDir) : await startDualkv(serverRoot, serverDir);
      const skipFile = path.join(tmp, `skip-${slug}.txt`);
      writeFileSync(skipFile, renderSkipFile(skip.cases.filter((c) => c.unit === unit)));
      const args = [
        '--host', LOOPBACK,
        '--port', String(current.server.port),
        '--single', unit,
        '--singledb',
        '--clients', '1',
        '--durable',
        '--ignore-encoding',
        '--timeout', String(RUNTEST_TIMEOUT_SEC),
        '--tags', tags,
        '--skipfile', skipFile,
      ];
      let run: RuntestRun;
      let serverDied: boolean;
      try {
        run = await runRuntest(copy, args, current, io, opts.verbose);
      } finally {
        serverDied = !current.server.alive;
        await current.server.stop();
      }
      const serverOutput = current.server.output();
      current.server = undefined;
      writeFileSync(path.join(tmp, 'logs', `${slug}.log`), run.output);
      writeFileSync(path.join(tmp, 'logs', `${slug}.server.log`), serverOutput);
      const out = parseRuntestOutput(run.output);
      const stopped: string[] = [];
      // The server exiting under the suite is a finding of its own (a crash), whatever the cases say.
      if (serverDied) stopped.push(`${against} exited during the unit; its last output:\n${serverOutput.slice(-2000)}`);
      if (run.killed) stopped.push(`runtest took longer than ${UNIT_TIMEOUT_MS / 1000} s and was killed`);
      const sawFailure = out.cases.some((c) => c.status === 'err') || out.blockErrors.length > 0 || out.exception !== null || out.timedOut;
      if (run.code !== 0 && !run.killed && !sawFailure) {
        // runtest failed without a failing case we could read: never count that as a pass.
        stopped.push(`runtest exited ${String(run.code)} with no failing case in its output:\n${run.output.slice(-2000)}\n${serverOutput.slice(-2000)}`);
      }
      const verdict = evaluateUnit(unit, out, skip.cases, skip.tags, stopped);
      const seconds = (Date.now() - unitStart) / 1000;
      times.set(unit, seconds);
      verdicts.push(verdict);
      printVerdict(verdict, seconds, io);
    }
  } catch (err) {
    io.err(`redis-suite: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    killGroup(current.runtestPid);
    await current.server?.stop();
    if (opts.keep) io.out(`redis-suite: kept ${tmp} (suite copy, runtest logs in logs/, server data in servers/)\n`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  const total = (k: (v: UnitVerdict) => number): number => verdicts.reduce((s, v) => s + k(v), 0);
  const failedUnits = verdicts.filter((v) => !v.ok);
  io.out(
    `redis-suite: ${against}: ${total((v) => v.passed)} passed, ${total((v) => v.failed.length)} failed, ` +
      `${total((v) => v.skipped)} skipped with a reason, ${total((v) => v.stale.length)} stale skip(s); ` +
      `${verdicts.length - failedUnits.length}/${verdicts.length} units pass; ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (opts.report) {
    writeFileSync(opts.report, renderReport(verdicts, against, times));
    io.out(`redis-suite: report written to ${opts.report}\n`);
  }
  return failedUnits.length === 0 ? 0 : 1;
}
