import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UdpClient } from '../../clients/lib/udp-client.js';

/**
 * kv-server where native/udp_batch.c was never built: a copy of dist/ with no
 * build/ beside it, as on a machine without a compiler. `auto` falls back to
 * node:dgram and says why; `batched` refuses to start.
 */
describe('kv-server without the batched UDP module', () => {
  let root: string;
  let main: string;

  beforeAll(() => {
    const dist = path.resolve('dist');
    if (!existsSync(path.join(dist, 'src', 'kv-server.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    root = mkdtempSync(path.join(tmpdir(), 'dualkv-nonative-'));
    cpSync(dist, path.join(root, 'dist'), { recursive: true });
    symlinkSync(path.resolve('node_modules'), path.join(root, 'node_modules'));
    writeFileSync(path.join(root, 'package.json'), JSON.stringify({ type: 'module' }));
    main = path.join(root, 'dist', 'src', 'kv-server.js');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function run(args: string[]) {
    const child = spawn(process.execPath, [main, '--port', '0', '--no-persistence', '--data-dir', path.join(root, 'data'), '--log-dir', path.join(root, 'logs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Array<Record<string, unknown>> = [];
    let stderr = '';
    let partial = '';
    let wake: (() => void) | null = null;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
      wake?.();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    void exited.then(() => clearTimeout(killer));
    return {
      child,
      lines,
      exited,
      stderr: () => stderr,
      async until(msg: string): Promise<Record<string, unknown>> {
        for (;;) {
          const line = lines.find((l) => l.msg === msg);
          if (line) return line;
          if (child.exitCode !== null) throw new Error(`kv-server exited before "${msg}": ${stderr}`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 200).unref();
          });
        }
      },
    };
  }

  it('--udp-io auto: serves UDP on node:dgram, and says why at start', async () => {
    const p = run(['--udp-io', 'auto']);
    const listening = await p.until('listening');
    expect(listening.udpIo).toBe('dgram');
    const warn = p.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('UDP runs on node:dgram'));
    expect(warn).toMatchObject({ level: 'warn', reason: expect.stringContaining('udp_batch.node did not load') });
    const client = await UdpClient.connect({ port: Number(listening.udpPort), timeoutMs: 500, retries: 3 });
    try {
      await client.put('k', 'v');
      expect((await client.get('k'))?.toString()).toBe('v');
    } finally {
      await client.close();
    }
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('--udp-io batched: refuses to start, saying what is missing and how to build it', async () => {
    const p = run(['--udp-io', 'batched']);
    expect(await p.exited).toBe(2); // a ConfigError at start, as a bad flag
    expect(p.stderr()).toMatch(/kv-server: --udp-io batched: .*udp_batch\.node did not load .*npm rebuild/);
    expect(p.lines.find((l) => l.msg === 'listening')).toBeUndefined();
  });
});
