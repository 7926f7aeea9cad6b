import type { BenchResult } from './run.js';
import { OP_NAMES } from './workload.js';

function n(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Columns: the first left-aligned, the rest right-aligned. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** A latency in µs, shown in the unit that reads best. */
export function formatUs(us: number): string {
  if (us >= 1_000_000) return `${n(us / 1_000_000, 2)} s`;
  if (us >= 1000) return `${n(us / 1000, 2)} ms`;
  return `${n(us)} µs`;
}

/** The human report: what was run, throughput, latency percentiles, and what went wrong. */
export function formatReport(r: BenchResult): string {
  const c = r.config;
  const shape =
    r.transport === 'udp' || r.transport === 'memcached-udp'
      ? `${c.inflight} in flight`
      : `${c.connections} connection${c.connections === 1 ? '' : 's'} × pipeline ${c.pipeline}`;
  const length = c.requests !== null ? `${n(c.requests)} requests` : `${c.durationS} s`;
  const lines = [
    `kv-bench  ${r.transport} → ${r.target}  ${shape}  ${c.threads} thread${c.threads === 1 ? '' : 's'}  ${c.rate === null ? 'closed loop' : `open loop at ${n(c.rate)} ops/s`}`,
    `          get:put:del ${c.ratio}  ${n(c.keys)} keys  ${c.valueSize}-byte values  ${length} after ${c.warmupS} s warm-up  seed ${c.seed}${c.preload ? '  preloaded' : ''}`,
    '',
    `throughput  ${n(r.opsPerSec)} ops/s  (${n(r.ok)} ok in ${n(r.elapsedS, 2)} s)`,
    '',
  ];
  const opRows = OP_NAMES.filter((k) => r.ops[k].sent > 0).map((k) => {
    const o = r.ops[k];
    return [k.toUpperCase(), n(o.sent), n(o.ok), n(o.notFound), n(o.errors)];
  });
  lines.push(...table(['op', 'sent', 'ok', 'not found', 'errors'], [...opRows, ['all', n(r.sent), n(r.ok), n(r.notFound), n(r.errors)]]), '');
  if (r.servers.length > 1) {
    const udp = r.transport === 'udp' || r.transport === 'memcached-udp';
    const rows = r.servers.map((s) => [s.target, n(udp ? s.inflight : s.connections), n(s.sent), n(s.ok), n(s.errors), n(s.opsPerSec), formatUs(s.latencyUs.p50), formatUs(s.latencyUs.p99)]);
    lines.push(...table(['server', udp ? 'in flight' : 'conns', 'sent', 'ok', 'errors', 'ops/s', 'p50', 'p99'], rows), '');
  }
  const l = r.latencyUs;
  lines.push(
    ...table(
      ['latency', 'min', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean'],
      [['ok ops', formatUs(l.min), formatUs(l.p50), formatUs(l.p90), formatUs(l.p99), formatUs(l.p999), formatUs(l.max), formatUs(Math.round(l.mean))]],
    ),
  );
  const kinds = Object.entries(r.errorKinds).sort((a, b) => b[1] - a[1]);
  if (kinds.length > 0) lines.push('', ...table(['errors by kind', 'count'], kinds.map(([k, v]) => [k, n(v)])));
  if (r.udp) lines.push('', `udp         retries ${n(r.udp.retries)}  timeouts ${n(r.udp.timeouts)}  (timeout ${c.timeoutMs} ms, ${c.retries} retries)`);
  if (r.openLoop) lines.push('', `open loop   ${n(r.openLoop.unsent)} operations due were never sent (every slot busy); latency counts from when each was due`);
  if (r.preload) lines.push('', `preload     ${n(r.preload.keys)} keys PUT before the run, ${n(r.preload.errors)} failed`);
  if (r.aborted) lines.push('', `stopped early: ${r.aborted.message}`);
  return lines.join('\n') + '\n';
}
