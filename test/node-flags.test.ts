/**
 * The Node flags kv-server runs with are written in its shebang (src/node-flags.ts), and
 * again where a launcher cannot read them: `npm start`. Each launcher must pass the same.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeFlagsOf, shebangNodeFlags } from '../src/node-flags.js';
import { MAIN, requireBuilt } from './helpers/process.js';

describe('the Node flags kv-server runs with', () => {
  it('are read from a `#!/usr/bin/env -S node …` line, and are none for a plain one or none at all', () => {
    expect(shebangNodeFlags('#!/usr/bin/env -S node --max-semi-space-size=8\nimport x;')).toEqual(['--max-semi-space-size=8']);
    expect(shebangNodeFlags('#!/usr/bin/env -S node --a=1 --b-c --d=x/y\n')).toEqual(['--a=1', '--b-c', '--d=x/y']);
    expect(shebangNodeFlags('#!/usr/bin/env node\nconsole.log(1)')).toEqual([]);
    expect(shebangNodeFlags('import x from "y";\n')).toEqual([]);
    expect(shebangNodeFlags('')).toEqual([]);
    // Anything after the flags that is not a flag (a script name, a shell word) is no shebang of ours.
    expect(shebangNodeFlags('#!/usr/bin/env -S node --a=1 evil.js\n')).toEqual([]);
  });

  it('the source and the build carry the same shebang, with a flag to give', () => {
    requireBuilt();
    const flags = nodeFlagsOf(MAIN);
    expect(flags.length).toBeGreaterThan(0);
    expect(nodeFlagsOf(path.resolve('src/main.ts'))).toEqual(flags);
  });

  it('npm start passes the same flags before the server', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${nodeFlagsOf(path.resolve('src/main.ts')).join(' ')} ${pkg.bin['kv-server']}`);
  });

  it('the built kv-server runs as a program through its shebang, as the installed command does (node refuses a flag it does not know)', () => {
    requireBuilt();
    // npm makes a bin executable when it links it; the build leaves it as tsc wrote it.
    chmodSync(MAIN, 0o755);
    expect(execFileSync(MAIN, ['--help'], { encoding: 'utf8' })).toMatch(/^kv-server \[options\]/);
  });
});
