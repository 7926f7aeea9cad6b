// The live figures: GET /metrics once a second, charted over the last few minutes, with the
// current numbers beside each chart. Any metric may be missing (a backend without memory
// figures, say): its series then shows "—" and leaves a gap.

import { api, whenSignedIn } from './api.js';
import { LineChart } from './chart.js';
import { formatBytes } from './key-bytes.js';
import { commandRates, intervalQuantile, parsePrometheus, readScrape } from './metrics.js';

const POLL_MS = 1000;
const SPAN_MS = 5 * 60_000;
/** The busiest commands get a line each; the rest are summed as "other". */
const COMMAND_LINES = 5;
/** Latency percentiles are over this many of the last scrapes (a second apart), so that a quiet second is not a gap. */
const LATENCY_WINDOW = 10;

const formatCount = (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(1)} M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)} k` : String(Math.round(v * 10) / 10));
const formatRate = (v) => `${formatCount(v)}/s`;
function formatSeconds(s) {
  if (s === 0) return '0';
  if (s < 1e-3) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${Math.round(s * 1e4) / 10} ms`;
  return `${Math.round(s * 100) / 100} s`;
}

/** The charts, in page order: what each shows, and how it reads its figures from the last scrape, the one before, and the oldest kept. */
const CHARTS = [
  { id: 'ops', title: 'Commands per second', format: formatRate, read: readOps },
  {
    id: 'latency',
    title: `Latency (last ${LATENCY_WINDOW} s)`,
    format: formatSeconds,
    read: (_, cur, oldest) => new Map([['p50', intervalQuantile(oldest, cur, 0.5)], ['p99', intervalQuantile(oldest, cur, 0.99)]]),
  },
  { id: 'keys', title: 'Keys', format: formatCount, read: (_, cur) => gauges(cur, [['keys', 'dualkv_keys'], ['with expiry', 'dualkv_keys_with_expiry']]) },
  { id: 'memory', title: 'Memory', format: formatBytes, read: (_, cur) => gauges(cur, [['used', 'dualkv_memory_used_bytes'], ['resident', 'dualkv_memory_rss_bytes']]) },
  { id: 'connections', title: 'Connections', format: formatCount, read: (_, cur) => gauges(cur, [['connected', 'dualkv_connections']]) },
];

function gauges(scrape, pairs) {
  return new Map(pairs.map(([series, metric]) => [series, scrape.gauges.get(metric) ?? null]));
}

/** Rates of the busiest commands (by their count so far), the others as one; null when no counter was there. */
function readOps(prev, cur) {
  const rates = commandRates(prev, cur);
  const out = new Map();
  if (!cur.commands.size) return new Map([['all', null]]);
  const busiest = [...cur.commands].sort((a, b) => b[1] - a[1]).map(([c]) => c);
  let other = 0;
  busiest.forEach((command, i) => {
    const r = rates.get(command) ?? 0;
    if (i < COMMAND_LINES) out.set(command.toUpperCase(), r);
    else other += r;
  });
  if (busiest.length > COMMAND_LINES) out.set('other', other);
  return out;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** One chart's figure: a caption with the headline number, the canvas, and a legend of the current numbers. */
function buildFigure(container, spec) {
  const figure = el('figure', 'chart');
  figure.id = `chart-${spec.id}`;
  const caption = el('figcaption');
  caption.append(el('span', 'chart-title', spec.title), el('span', 'chart-now', '—'));
  const canvas = el('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `${spec.title}: no data yet`);
  const legend = el('ul', 'legend');
  figure.append(caption, canvas, legend);
  container.append(figure);
  const chart = new LineChart(canvas, { spanMs: SPAN_MS, format: spec.format, label: spec.title });
  return { spec, chart, canvas, legend, now: caption.lastChild };
}

function showCurrent(view, values) {
  const { spec, chart, legend } = view;
  const shown = (v) => (v === null || v === undefined ? '—' : spec.format(v));
  legend.replaceChildren(
    ...[...values].map(([series, v]) => {
      const li = el('li');
      li.append(el('span', `swatch series-${chart.colourOf(series)}`), el('span', 'series-name', series), el('span', 'series-value', shown(v)));
      return li;
    }),
  );
  const known = [...values.values()].filter((v) => v !== null);
  const headline = spec.id === 'ops' ? (known.length ? known.reduce((a, b) => a + b, 0) : null) : (values.values().next().value ?? null);
  view.now.textContent = spec.id === 'ops' && headline !== null ? `${shown(headline)} in all` : shown(headline);
  view.canvas.setAttribute('aria-label', `${spec.title}: ${[...values].map(([s, v]) => `${s} ${shown(v)}`).join(', ')}`);
}

/** Starts the polling loop that feeds the charts in `container`; `status` says how the last read went. */
export function startFigures(container, status) {
  const views = CHARTS.map((spec) => buildFigure(container, spec));
  /** The last scrapes, oldest first. */
  const kept = [];
  const poll = async () => {
    const began = Date.now();
    try {
      const res = await api('/metrics');
      if (res.status === 401) {
        status.textContent = 'sign in to see the figures';
        status.classList.add('bad');
        await res.arrayBuffer();
        await whenSignedIn();
        return void poll();
      }
      if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
      const cur = readScrape(parsePrometheus(await res.text()), Date.now());
      const prev = kept[kept.length - 1];
      if (prev !== undefined) {
        for (const view of views) {
          const values = view.spec.read(prev, cur, kept[0]);
          view.chart.push(cur.at, values);
          showCurrent(view, values);
        }
      }
      kept.push(cur);
      if (kept.length > LATENCY_WINDOW) kept.shift();
      status.textContent = `live · read ${new Date(cur.at).toLocaleTimeString()}`;
      status.classList.remove('bad');
    } catch (err) {
      status.textContent = `cannot read the figures (${err instanceof Error ? err.message : String(err)}); trying again`;
      status.classList.add('bad');
    }
    setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - began)));
  };
  void poll();
}
