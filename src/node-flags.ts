/**
 * The Node flags kv-server runs with are the ones its shebang gives (src/main.ts, line 1:
 * `#!/usr/bin/env -S node …`), so that the installed `kv-server` command carries them.
 * `npm start` writes them again (package.json), and the container's launcher
 * (docker/Dockerfile) and the benchmarks read them from the built file with
 * shebangNodeFlags; test/node-flags.test.ts holds them all equal.
 *
 * Today that is one flag, --max-semi-space-size=8 (MiB). Under load V8 grows the young
 * generation to two 16 MiB halves and keeps it; at 8 MiB the server's RSS for a million
 * keys is about 19 MB less (bench:memory: 227 → 208 bytes a key, 1.13× → 1.04× Redis's
 * used_memory) at the same throughput (bench:tcp, plain and -P 16), since what a request
 * allocates dies young either way. 4 MiB cost -P 16 SETs a few per cent.
 */
import { readFileSync } from 'node:fs';

/** The flags in a script's first line `#!/usr/bin/env -S node <flags>`; none for `#!/usr/bin/env node` or no shebang. */
export function shebangNodeFlags(text: string): string[] {
  const end = text.indexOf('\n');
  const first = end < 0 ? text : text.slice(0, end);
  const m = /^#!\/usr\/bin\/env -S node((?: +--[\w-]+(?:=\S+)?)*) *$/.exec(first);
  return m ? (m[1] ?? '').split(' ').filter(Boolean) : [];
}

/** shebangNodeFlags of a file (the built dist/src/main.js). */
export function nodeFlagsOf(file: string): string[] {
  return shebangNodeFlags(readFileSync(file, 'utf8'));
}
