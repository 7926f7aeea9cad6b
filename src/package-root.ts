/**
 * The package's own folder (the one holding its package.json), for the files the server
 * loads by path at run time: the snapshot worker, the web console's files and the native
 * UDP module. Found by walking up from this module, which may run from src/ (vitest),
 * dist/src/ (tsc's output) or the single-file bundle dist/src/kv-server.js (what
 * `kv-server` and `npm start` run): each sits at a different depth, so a path relative to
 * import.meta.url would be right in one of them only.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

export function packageRoot(): string {
  if (root !== null) return root;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${here}: the dualkv package is incomplete`);
  }
}

/** `parts` joined under the package's folder. */
export function packagePath(...parts: string[]): string {
  return path.join(packageRoot(), ...parts);
}
