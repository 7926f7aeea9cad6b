// Builds udp_batch.c (the batched UDP socket) with node-gyp; run by
// `npm ci` / `npm install` (the package's install script) and by `npm rebuild`.
//
// Without it kv-server still runs: --udp-io auto falls back to node:dgram and
// says so at start. So a failed build warns and exits 0, unless
// KV_REQUIRE_NATIVE=1 (CI sets it, so a broken build cannot slip through).
//
// node-gyp needs Node's C headers. It looks for them under --nodedir; without
// one it downloads them, which an offline machine cannot. So when the headers
// sit next to this node binary (Debian's nodejs-dev, or the official tarball's
// include/node), they are named outright.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// This directory: binding.gyp is here, and node-gyp builds into build/ beside it.
const here = path.dirname(fileURLToPath(import.meta.url));
const required = process.env.KV_REQUIRE_NATIVE === '1';

function give(why) {
  const text = `udp_batch (src/frontends/udp/native/udp_batch.c) was not built: ${why}`;
  if (required) {
    console.error(`${text}\nKV_REQUIRE_NATIVE=1: failing.`);
    process.exit(1);
  }
  console.warn(`${text}\nkv-server will use node:dgram for UDP, which is slower. To build it: install python3, make and g++, then run \`npm rebuild\`.`);
  process.exit(0);
}

if (process.platform !== 'linux') give(`recvmmsg/sendmmsg batching is Linux-only (this is ${process.platform})`);

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const npmDir = path.join(path.dirname(path.dirname(process.execPath)), 'lib', 'node_modules', 'npm');
  const candidates = [path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // Not installed as a package here; npm's own copy is the usual one.
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

const gyp = findNodeGyp();
if (gyp === null) give('node-gyp was not found (it ships with npm)');

const args = [gyp, 'rebuild', '--loglevel=warn', '--directory', here];
const prefix = path.dirname(path.dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir || (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null);
if (nodedir) args.push(`--nodedir=${nodedir}`);

const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) give(`node-gyp exited with ${r.status ?? r.signal} (see its output above)`);
if (!existsSync(path.join(here, 'build', 'Release', 'udp_batch.node'))) give(`node-gyp finished but ${path.join(here, 'build', 'Release', 'udp_batch.node')} is missing`);
console.log('udp_batch built: kv-server reads and sends UDP in batches (recvmmsg/sendmmsg).');
