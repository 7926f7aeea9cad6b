/**
 * What a stop does about the final snapshot, as SHUTDOWN chooses (docs/PROTOCOL.md §2.2):
 * `default` (SIGTERM, plain SHUTDOWN) writes one when something changed since the last,
 * `skip` (NOSAVE) writes none, `force` (SAVE) writes one even when nothing changed. The
 * log is flushed and fsynced whatever the choice, so no acknowledged write is lost: the
 * next start replays it.
 */
export type FinalSnapshot = 'default' | 'skip' | 'force';

export interface StopOptions {
  readonly finalSnapshot?: FinalSnapshot;
}
