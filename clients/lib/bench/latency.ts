import * as hdr from 'hdr-histogram-js';

/*
 * Latencies go into HDR histograms (hdr-histogram-js, the HdrHistogram project's
 * own JavaScript port): constant memory, 3 significant digits at every scale,
 * and histograms from several threads merge exactly by adding counts. Values are
 * whole microseconds.
 */

/** Longest latency tracked exactly: one hour. Longer ones still count, as one hour. */
const HIGHEST_US = 3_600_000_000;
const BIT_BUCKET_SIZE = 32;

export type Histogram = hdr.Histogram;

export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: BIT_BUCKET_SIZE,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });
}

/** Records one latency given in milliseconds (performance.now() differences). */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

/** A histogram as a compact string, to cross a thread boundary. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Adds an encoded histogram's counts into `into`. */
export function addEncoded(into: Histogram, encoded: string): void {
  const h = hdr.decodeFromCompressedBase64(encoded, BIT_BUCKET_SIZE);
  into.add(h);
  h.destroy();
}

/** The latency figures every report shows, in microseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/**
 * Percentiles are HDR's: each is the highest value equivalent to the bucket it
 * falls in (within 0.1%). `min` and `max` are given separately by the caller,
 * exact, since they are cheap to track.
 */
export function summarize(h: Histogram, exact?: { min: number; max: number }): LatencySummary {
  if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    min: exact?.min ?? h.minNonZeroValue,
    mean: Math.round(h.mean * 10) / 10,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: exact?.max ?? h.maxValue,
  };
}
