import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The edits made to the temporary copy of Redis's suite before it runs against a server that is
 * not Redis. Each one is as small as it can be, says why, and must find its text exactly once:
 * if the pinned copy ever changes under it, the run stops instead of running an unpatched suite.
 * They change only the harness (tests/support/), never a test.
 */
export interface HarnessPatch {
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  readonly why: string;
}

export const HARNESS_PATCHES: readonly HarnessPatch[] = [
  {
    file: 'tests/support/server.tcl',
    // run_external_server_test, before every start_server block.
    find: '    r flushall\n    r function flush\n',
    replace: [
      '    r flushall',
      '    # dualkv suite runner: a server without FUNCTION has no functions to flush.',
      '    if {[catch {r function flush} err] && ![string match {*unknown command*} $err]} { error $err }',
      '',
    ].join('\n'),
    why:
      'The harness sends FLUSHALL and FUNCTION FLUSH before each block. dualkv has no functions ' +
      '(no scripting), so "unknown command" to FUNCTION FLUSH is accepted; any other error still fails the block.',
  },
  {
    file: 'tests/support/util.tcl',
    // find_available_port, which runtest uses for its own test-server port.
    find: '[catch {set fd1 [socket -server 127.0.0.1 $port]}] ||\n            [catch {set fd2 [socket -server 127.0.0.1 [expr $port+10000]]}]',
    replace:
      '[catch {set fd1 [socket -server 127.0.0.1 -myaddr 127.0.0.1 $port]}] ||\n' +
      '            [catch {set fd2 [socket -server 127.0.0.1 -myaddr 127.0.0.1 [expr $port+10000]]}]',
    why:
      'The port probe listens on every interface: its "127.0.0.1" is the name of the accept ' +
      'callback, not an address. With -myaddr it probes loopback only, where runtest then listens.',
  },
];

export class HarnessPatchError extends Error {
  override readonly name = 'HarnessPatchError';
}

/** Applies every patch to the suite copy at `root` (which must be writable). */
export function applyHarnessPatches(root: string, patches: readonly HarnessPatch[] = HARNESS_PATCHES): void {
  for (const p of patches) {
    const file = path.join(root, p.file);
    const text = readFileSync(file, 'utf8');
    const at = text.indexOf(p.find);
    if (at < 0 || text.indexOf(p.find, at + 1) >= 0) {
      throw new HarnessPatchError(
        `${p.file}: the text to patch is ${at < 0 ? 'not there' : 'there more than once'}; ` +
          'the suite copy is not the pinned Redis 7.0 one this runner was written for (update test/redis-suite/patch-harness.ts)',
      );
    }
    writeFileSync(file, text.slice(0, at) + p.replace + text.slice(at + p.find.length));
  }
}
