import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pidExists } from '../../bench/lib/peer-process.js';
import { haveEtcd } from '../helpers/etcd-cluster.js';
import { haveRedisCluster } from '../helpers/redis-cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Cluster start, two gateways and a --quick round take seconds; a busy machine makes it more. */
const RUN_TIMEOUT_MS = 150_000;

const SCRIPTS = [
  { name: 'gateway-etcd', have: haveEtcd, ratio: /^ratio gateway\/direct: \d+\.\d\dx/m },
  { name: 'gateway-redis-cluster', have: haveRedisCluster, ratio: /^ratio gateway\/direct SET: \d+\.\d\dx/m },
] as const;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built script; `onLine` sees each stdout line as it comes (to signal the process mid-run). */
function runBench(name: string, args: string[], onLine?: (line: string, child: ChildProcess) => void): Promise<Run> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/bench', `${name}.js`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const before = stdout.length;
    stdout += d;
    if (onLine) for (const line of stdout.slice(stdout.lastIndexOf('\n', before) + 1).split('\n').slice(0, -1)) onLine(line, child);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The pids and temp dirs the script says it made (its `# cleanup check:` line). */
function madeByRun(stdout: string): { pids: number[]; dirs: string[] } {
  const m = /^# cleanup check: pids ([\d ]+); dirs (.+)$/m.exec(stdout);
  if (m === null) throw new Error(`no cleanup line in the output:\n${stdout}`);
  return { pids: (m[1] as string).trim().split(' ').map(Number), dirs: (m[2] as string).trim().split(' ') };
}

function expectAllGone(made: { pids: number[]; dirs: string[] }): void {
  expect(made.pids.length).toBeGreaterThanOrEqual(5);
  expect(made.pids.filter(pidExists)).toEqual([]);
  expect(made.dirs.filter((d) => existsSync(d))).toEqual([]);
}

for (const script of SCRIPTS) {
  describe.skipIf(!script.have())(`bench/${script.name}`, () => {
    it('runs --quick to the end, prints the gateway/direct ratio, and leaves no peer, gateway or temp dir behind', { timeout: RUN_TIMEOUT_MS }, async () => {
      const run = await runBench(script.name, ['--quick']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(script.ratio);
      expect(run.stdout).toMatch(/^ratio two gateways\/one gateway/m);
      expectAllGone(madeByRun(run.stdout));
    });

    it('stops its peers and gateways and removes their dirs on SIGINT', { timeout: RUN_TIMEOUT_MS }, async () => {
      let signalled = false;
      const run = await runBench(script.name, ['--quick'], (line, child) => {
        if (!signalled && line.startsWith('# cleanup check:')) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      expect(signalled).toBe(true);
      expect(run.code, run.stderr).toBe(130);
      expectAllGone(madeByRun(run.stdout));
    });
  });
}
