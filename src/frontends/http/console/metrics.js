// Reading GET /metrics (docs/HTTP.md §7) in the browser: Prometheus's text format, version
// 0.0.4, and the figures the console charts from it. Pure functions: no fetch, no DOM.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(token) {
  if (token === '+Inf' || token === 'Inf') return Infinity;
  if (token === '-Inf') return -Infinity;
  return Number(token);
}

/** One sample line, `name{label="value",…} value [timestamp]`, or null when it is not one. */
function parseSample(line) {
  const m = NAME.exec(line);
  if (m === null) return null;
  const name = m[0];
  const labels = {};
  let i = name.length;
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') break;
      const lm = NAME.exec(line.slice(i));
      if (lm === null || line[i + lm[0].length] !== '=' || line[i + lm[0].length + 1] !== '"') return null;
      i += lm[0].length + 2;
      let value = '';
      // The format's three escapes in a label value: \\, \" and \n.
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) {
          i++;
          value += line[i] === 'n' ? '\n' : line[i];
        } else value += line[i];
        i++;
      }
      if (i >= line.length) return null;
      labels[lm[0]] = value;
      i++;
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest[0] === undefined || rest[0] === '') return null;
  const value = parseValue(rest[0]);
  return Number.isNaN(value) && rest[0] !== 'NaN' ? null : { name, labels, value };
}

/** Every sample of the text; comments, blank lines and lines it cannot read are passed over. */
export function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = parseSample(line);
    if (s !== null) samples.push(s);
  }
  return samples;
}

/** The gauges the console shows, by metric name. */
export const GAUGES = ['dualkv_keys', 'dualkv_keys_with_expiry', 'dualkv_memory_used_bytes', 'dualkv_memory_rss_bytes', 'dualkv_memory_max_bytes', 'dualkv_connections'];

/**
 * What one scrape says: commands run so far by name (dualkv_commands_total summed over
 * transport and result), the latency histogram summed over commands (cumulative count by
 * bucket bound, in seconds), and the gauges. A metric missing from the text is missing here.
 */
export function readScrape(samples, at) {
  const commands = new Map();
  const buckets = new Map();
  const gauges = new Map();
  for (const s of samples) {
    if (s.name === 'dualkv_commands_total') {
      const command = s.labels.command ?? '?';
      commands.set(command, (commands.get(command) ?? 0) + s.value);
    } else if (s.name === 'dualkv_command_duration_seconds_bucket') {
      const le = parseValue(s.labels.le ?? '');
      if (!Number.isNaN(le)) buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    } else if (GAUGES.includes(s.name)) gauges.set(s.name, s.value);
  }
  return { at, commands, buckets, gauges };
}

/** A counter's increase between two reads; after a reset (CONFIG RESETSTAT) the new value is the increase, as Prometheus takes it. */
function increase(before, now) {
  return now >= before ? now - before : now;
}

/** Commands per second by name between two scrapes. */
export function commandRates(prev, cur) {
  const seconds = (cur.at - prev.at) / 1000;
  const rates = new Map();
  if (seconds <= 0) return rates;
  for (const [command, n] of cur.commands) rates.set(command, increase(prev.commands.get(command) ?? 0, n) / seconds);
  return rates;
}

/**
 * The q-quantile (0 < q < 1) of the latencies observed between two scrapes, in seconds, as
 * Prometheus's histogram_quantile estimates it: linear within the bucket the rank falls in,
 * and the highest finite bound when it falls in +Inf. Null when nothing was observed.
 */
export function intervalQuantile(prev, cur, q) {
  const bounds = [...cur.buckets.keys()].sort((a, b) => a - b);
  if (bounds.length === 0 || bounds[bounds.length - 1] !== Infinity) return null;
  const counts = bounds.map((le) => increase(prev.buckets.get(le) ?? 0, cur.buckets.get(le) ?? 0));
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] < rank) continue;
    if (bounds[i] === Infinity) return i > 0 ? bounds[i - 1] : null;
    const lower = i > 0 ? bounds[i - 1] : 0;
    const below = i > 0 ? counts[i - 1] : 0;
    const inBucket = counts[i] - below;
    return inBucket > 0 ? lower + ((bounds[i] - lower) * (rank - below)) / inBucket : bounds[i];
  }
  return null;
}
