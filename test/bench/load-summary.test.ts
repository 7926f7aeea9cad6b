import { describe, expect, it } from 'vitest';
import { summarizeLoad, type LoadResult } from '../../bench/lib/load-summary.js';

const clean: LoadResult = {
  requests: { total: 50_000 },
  duration: 5,
  latency: { p50: 1, p99: 4 },
  errors: 0,
  timeouts: 0,
  non2xx: 0,
  mismatches: 0,
  statusCodeStats: { '200': { count: 50_000 } },
};

describe('an autocannon run', () => {
  it('counts when every response was a 2xx: requests/s and latency', () => {
    expect(summarizeLoad(clean)).toEqual({ rps: 10_000, p50Ms: 1, p99Ms: 4 });
  });

  it('fails with the count of each non-2xx status', () => {
    const r = { ...clean, non2xx: 7, statusCodeStats: { '200': { count: 49_993 }, '404': { count: 5 }, '503': { count: 2 } } };
    expect(summarizeLoad(r)).toEqual({ error: '7 non-2xx (404 x5, 503 x2)' });
  });

  it('fails on connection errors and timeouts', () => {
    expect(summarizeLoad({ ...clean, errors: 3, timeouts: 1 })).toEqual({ error: '3 connection errors (1 of them timeouts)' });
  });

  it('fails when nothing answered', () => {
    expect(summarizeLoad({ ...clean, requests: { total: 0 }, statusCodeStats: {} })).toEqual({ error: 'no responses at all' });
  });

  it('lists every problem at once', () => {
    const r = { ...clean, non2xx: 1, errors: 2, mismatches: 3, statusCodeStats: { '500': { count: 1 } } };
    expect(summarizeLoad(r)).toEqual({ error: '1 non-2xx (500 x1); 2 connection errors (0 of them timeouts); 3 bodies not as expected' });
  });
});
