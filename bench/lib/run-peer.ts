import { spawn } from 'node:child_process';

/**
 * Runs a peer (redis-cli, curl, openssl) and collects its output; killed after `timeoutMs`.
 * Asynchronous on purpose: the server under test runs in this process, so a synchronous
 * spawn would stop it from answering.
 */
export function runPeer(bin: string, args: readonly string[], stdin?: string | Buffer, timeoutMs = 20_000): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    // A peer that exits without reading its input (etcdctl, most of the time) closes the pipe first: EPIPE says nothing then.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(stdin ?? '');
  });
}
