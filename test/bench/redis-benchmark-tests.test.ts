import { describe, expect, it } from 'vitest';
import { DEFAULT_TESTS, describeBenchmarkFailure, parseBenchmarkCsv } from '../../bench/lib/redis-benchmark-tests.js';

// redis-benchmark 7.0.15 --csv -t set,mset, as it printed against kv-server.
const CSV = [
  '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
  '"SET","118343.20","6.620","0.400","2.959","11.111","116.671","151.167"',
  '"MSET (10 keys)","89686.09","8.799","0.256","5.759","12.319","135.167","222.079"',
  '',
].join('\n');

describe("redis-benchmark's --csv output", () => {
  it('reads one row per test, names as printed and figures as numbers, past the header', () => {
    expect(parseBenchmarkCsv(CSV)).toEqual([
      { test: 'SET', rps: 118343.2, avgMs: 6.62, minMs: 0.4, p50Ms: 2.959, p95Ms: 11.111, p99Ms: 116.671, maxMs: 151.167 },
      { test: 'MSET (10 keys)', rps: 89686.09, avgMs: 8.799, minMs: 0.256, p50Ms: 5.759, p95Ms: 12.319, p99Ms: 135.167, maxMs: 222.079 },
    ]);
  });

  it('reads CRLF line ends and passes over lines that are not rows', () => {
    const out = `WARNING: Could not fetch server CONFIG\r\n${CSV.replaceAll('\n', '\r\n')}`;
    expect(parseBenchmarkCsv(out).map((r) => r.test)).toEqual(['SET', 'MSET (10 keys)']);
  });

  it('gives no rows for a run that printed only the header (it stopped at an error)', () => {
    expect(parseBenchmarkCsv(CSV.split('\n')[0] as string)).toEqual([]);
  });

  it('refuses a row whose figures are not numbers, rather than show a wrong figure', () => {
    expect(() => parseBenchmarkCsv('"GET","fast","1","1","1","1","1","1"')).toThrow(/not all numbers/);
  });
});

describe('why a redis-benchmark run failed', () => {
  it("is the server's error reply when it printed one", () => {
    const stderr = "Error from server: ERR unknown command 'INCR', with args beginning with: 'counter:__rand_int__' \n";
    expect(describeBenchmarkFailure(stderr, { code: 1, signal: null })).toBe("ERR unknown command 'INCR', with args beginning with: 'counter:__rand_int__'");
  });

  it('else the last line of stderr, passing over the CONFIG warning', () => {
    const stderr = 'Could not connect to Redis at 127.0.0.1:1: Connection refused\nWARNING: Could not fetch server CONFIG\n';
    expect(describeBenchmarkFailure(stderr, { code: 1, signal: null })).toBe('Could not connect to Redis at 127.0.0.1:1: Connection refused');
  });

  it('else how the process ended', () => {
    expect(describeBenchmarkFailure('', { code: 2, signal: null })).toBe('exit code 2');
    expect(describeBenchmarkFailure('', { code: null, signal: 'SIGKILL' })).toBe('killed by SIGKILL');
  });
});

describe("redis-benchmark's default test list", () => {
  it('runs the tests of commands dualkv has, MSET last as redis-benchmark does', () => {
    expect(DEFAULT_TESTS.filter((t) => t.skip === null).map((t) => t.name)).toEqual(['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET (10 keys)']);
  });

  it('says why each other test is skipped', () => {
    const skipped = DEFAULT_TESTS.filter((t) => t.skip !== null);
    expect(skipped).toHaveLength(14);
    for (const t of skipped) expect(t.skip).toMatch(/^(lists|sets|hashes|sorted sets) are not a dualkv data type$/);
  });
});
