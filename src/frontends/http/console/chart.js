// A line chart on a <canvas>: a few named series over the last few minutes, redrawn on each
// new point. Colours come from the page's CSS (--series-0 …), so the legend and the lines agree.

const PAD = { left: 58, right: 10, top: 10, bottom: 22 };
const SERIES_COLOURS = 6;
/** The time axis starts this narrow and widens with the data, up to the chart's span. */
const MIN_SPAN_MS = 60_000;

/** A round step for about `n` gridlines up to `max`: 1, 2 or 5 times a power of ten. */
function niceStep(max, n) {
  const raw = max / n;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ spanMs: number, format: (v: number) => string, label: string }} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.options = options;
    /** Points, oldest first: { at, values: Map<series, number | null> }. */
    this.points = [];
    /** Each series keeps the colour it was first drawn with. */
    this.colours = new Map();
  }

  /** The colour index of a series, for the legend's swatch class (`series-N`). */
  colourOf(series) {
    let c = this.colours.get(series);
    if (c === undefined) {
      c = this.colours.size % SERIES_COLOURS;
      this.colours.set(series, c);
    }
    return c;
  }

  /** Adds the figures read at `at` (ms; null: not known then) and redraws. */
  push(at, values) {
    this.points.push({ at, values });
    const oldest = at - this.options.spanMs;
    while (this.points.length > 0 && this.points[0].at < oldest) this.points.shift();
    for (const series of values.keys()) this.colourOf(series);
    this.draw(at);
    // What the chart shows, for scripts and tests that cannot look at the canvas: data-points,
    // data-latest (the last figures) and data-max (the highest in view, set by draw).
    const latest = {};
    for (const [k, v] of values) latest[k] = v;
    this.canvas.dataset.points = String(this.points.length);
    this.canvas.dataset.latest = JSON.stringify(latest);
  }

  draw(now) {
    const { canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const g = canvas.getContext('2d');
    if (g === null) return;
    const style = getComputedStyle(canvas);
    const css = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const w = width / dpr;
    const h = height / dpr;
    g.clearRect(0, 0, w, h);
    g.font = `11px ${style.fontFamily}`;
    g.fillStyle = css('--chart-text', '#666');

    let max = 0;
    let any = false;
    for (const p of this.points) {
      for (const v of p.values.values()) {
        if (v === null || !Number.isFinite(v)) continue;
        any = true;
        if (v > max) max = v;
      }
    }
    canvas.dataset.max = any ? String(max) : '';
    const plotW = w - PAD.left - PAD.right;
    const plotH = h - PAD.top - PAD.bottom;
    if (!any) {
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText('no data yet', PAD.left + plotW / 2, PAD.top + plotH / 2);
      return;
    }
    const step = max > 0 ? niceStep(max, 4) : 1;
    const top = max > 0 ? Math.ceil(max / step) * step : 1;
    const y = (v) => PAD.top + plotH - (v / top) * plotH;
    const span = Math.min(this.options.spanMs, Math.max(MIN_SPAN_MS, now - this.points[0].at));
    const start = now - span;
    const x = (at) => PAD.left + ((at - start) / span) * plotW;

    // Gridlines with their figures, and the time axis.
    g.strokeStyle = css('--chart-grid', '#ddd');
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      g.beginPath();
      g.moveTo(PAD.left, yy);
      g.lineTo(w - PAD.right, yy);
      g.stroke();
      g.fillText(this.options.format(v), PAD.left - 6, yy);
    }
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(span < 120_000 ? `${Math.round(span / 1000)} s ago` : `${Math.round(span / 60_000)} min ago`, PAD.left, h - PAD.bottom + 6);
    g.textAlign = 'right';
    g.fillText('now', w - PAD.right, h - PAD.bottom + 6);

    // The lines: a null (or a missing series) breaks a line rather than drawing it through zero.
    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const [series, colour] of this.colours) {
      g.strokeStyle = css(`--series-${colour}`, '#36c');
      g.beginPath();
      let drawing = false;
      let last = null;
      for (const p of this.points) {
        const v = p.values.get(series);
        if (v === undefined || v === null || !Number.isFinite(v)) {
          drawing = false;
          last = null;
          continue;
        }
        if (drawing) g.lineTo(x(p.at), y(v));
        else g.moveTo(x(p.at), y(v));
        drawing = true;
        last = { at: p.at, v };
      }
      g.stroke();
      // The latest figure as a dot (so is a first point, which has no line yet).
      if (last !== null) {
        g.fillStyle = g.strokeStyle;
        g.beginPath();
        g.arc(x(last.at), y(last.v), 2.5, 0, 2 * Math.PI);
        g.fill();
      }
    }
  }
}
