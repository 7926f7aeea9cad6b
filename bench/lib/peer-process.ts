import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** How much of a peer's output is kept for error messages. */
const OUTPUT_TAIL_BYTES = 16 * 1024;

/** How long a signalled peer may take to exit before it is sent SIGKILL. */
const EXIT_BOUND_MS = 10_000;

// Peers and directories still live, so that a test worker that exits without its
// afterEach/afterAll (a crash, a timeout) leaves no processes or files behind.
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A temp directory for a peer's data, removed by `removePeerDir` or, failing that, when this process exits. */
export function makePeerDir(prefix: string): string {
  hookExit();
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removePeerDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/**
 * One server process of a real peer (etcd, redis-server) that a fixture started, with the
 * tail of its stdout and stderr kept for the error message when it dies or never gets ready.
 */
export class PeerProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private tail = '';

  private constructor(
    readonly child: ChildProcess,
    readonly what: string,
  ) {
    const keep = (d: Buffer): void => {
      this.tail = (this.tail + d.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /** Spawns `bin args`; `what` names the process in errors (e.g. "etcd member m1"). */
  static spawn(bin: string, args: readonly string[], what: string, options: { cwd?: string } = {}): PeerProcess {
    hookExit();
    const child = spawn(bin, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    const proc = new PeerProcess(child, what);
    // A missing binary comes as an 'error' event, not an exit: say so, then treat it as one.
    child.once('error', (err) => {
      proc.tail += `\n${bin}: ${err.message}`;
      live.delete(child);
    });
    return proc;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it printed. */
  get output(): string {
    return this.tail;
  }

  /** Whether it died because a port it was given was taken in the meantime. */
  get lostAPort(): boolean {
    return /address already in use/i.test(this.tail);
  }

  /** An Error for a peer that stopped or never got ready, with what it printed. */
  failure(why: string): Error {
    return new Error(`${this.what} ${why}; its last output:\n${this.tail.trim() || '(none)'}`);
  }

  /** Sends `signal` and waits for the exit; SIGKILL after a bound, so this always ends. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), EXIT_BOUND_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Whether a process with this pid is still there (for tests that a fixture left none behind). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls `probe` until it returns a value other than undefined, at most `timeoutMs`.
 * For a cluster's state there is no event to wait on, only questions to ask again.
 * `check` runs before each try and may throw to end the wait early (e.g. a peer died).
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  options: { timeoutMs: number; intervalMs?: number; check?: () => void; last?: () => string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.check?.();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const last = options.last?.();
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${last ? `; last seen: ${last}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}
