import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../clients/lib/cli-duration.js';
import { UsageError } from '../../clients/lib/cli-exit-codes.js';

describe('parseDuration (kv-udp --ttl, expire)', () => {
  it('reads a number with a unit as whole milliseconds', () => {
    expect(['500ms', '10s', '1.5s', '5m', '2h', '7d', '0s'].map((d) => parseDuration(d, '--ttl'))).toEqual([500, 10_000, 1500, 300_000, 7_200_000, 604_800_000, 0]);
  });

  it('refuses a bare number, a negative one, an unknown unit and garbage, saying which units it takes', () => {
    for (const bad of ['10', '-5s', '5w', 's', '1e3ms', '', '9999999999999999d']) {
      expect(() => parseDuration(bad, '--ttl')).toThrow(UsageError);
    }
    expect(() => parseDuration('10', '--ttl')).toThrow(/--ttl must be a number with a unit, ms, s, m, h or d/);
  });
});
