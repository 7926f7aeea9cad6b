/** What bench/http-vs-webdis.ts keeps of an autocannon run, and whether the run counts. */

/** The parts of autocannon's Result this reads (autocannon.Result has them all). */
export interface LoadResult {
  readonly requests: { readonly total: number };
  readonly duration: number;
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly mismatches: number;
  readonly statusCodeStats?: Readonly<Record<string, { readonly count?: number }>>;
}

export type LoadSummary = { rps: number; p50Ms: number; p99Ms: number } | { error: string };

/**
 * Requests/s and latency of a run in which every response was a 2xx; otherwise
 * why not, with the count of each status and error, since a server that answers
 * errors fast is not fast.
 */
export function summarizeLoad(r: LoadResult): LoadSummary {
  const problems: string[] = [];
  if (r.non2xx > 0) {
    const statuses = Object.entries(r.statusCodeStats ?? {})
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, s]) => `${code} x${s.count ?? 0}`);
    problems.push(`${r.non2xx} non-2xx (${statuses.join(', ') || 'statuses unknown'})`);
  }
  if (r.errors > 0) problems.push(`${r.errors} connection errors (${r.timeouts} of them timeouts)`);
  if (r.mismatches > 0) problems.push(`${r.mismatches} bodies not as expected`);
  if (r.requests.total === 0) problems.push('no responses at all');
  if (problems.length > 0) return { error: problems.join('; ') };
  return { rps: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}
