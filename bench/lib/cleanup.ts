/**
 * Stops the benchmark's child processes however the script ends: each round's
 * finally block stops its own servers on success and on error; this covers
 * SIGINT/SIGTERM (which never reach a finally block) and a crash before one runs.
 */
import type { ChildProcess } from 'node:child_process';

interface Stoppable {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();
/** Stops of things that are more than one child (a cluster of peers), run after the children's. */
const groups = new Set<() => Promise<void>>();
let installed = false;

/** Registers a child to stop on a signal or at exit; returns it, for `track(await startRedis())`. */
export function track<T extends Stoppable>(p: T): T {
  installStopOnExit();
  live.add(p);
  p.child.once('exit', () => live.delete(p));
  return p;
}

/**
 * Registers the stop of something that is not one child (an etcd or Redis Cluster of
 * several peers) to run on a signal; returns a function that unregisters it, for the
 * script's own finally block to call once it stopped it.
 */
export function trackGroup(stop: () => Promise<void>): () => void {
  installStopOnExit();
  groups.add(stop);
  return () => void groups.delete(stop);
}

function installStopOnExit(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping ${live.size} child process(es)${groups.size > 0 ? ` and ${groups.size} cluster(s)` : ''}`);
      // One at a time, as the rounds do: kv-servers snapshot on the way down.
      void (async () => {
        for (const p of [...live]) await p.stop().catch(() => undefined);
        for (const stop of [...groups]) await stop().catch(() => undefined);
        process.exit(code);
      })();
    });
  }
  // Last resort (an uncaught error, process.exit): only synchronous work runs here.
  process.once('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
  });
}
