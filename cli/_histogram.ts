/**
 * A fixed-size latency histogram: buckets a quarter of an octave wide from 1 µs to about
 * 200 s, so recording allocates nothing and percentiles are within 19% of the truth (the
 * maximum is exact).
 */

const STEPS = 4; // buckets per doubling
const BUCKETS = 28 * STEPS; // 2^28 µs ≈ 268 s

/** Latencies in milliseconds, recorded into log-scale buckets. */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #max = 0;
  #sum = 0;

  /** Records one latency, in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    const index = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log2(us) * STEPS));
    this.#counts[index]++;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** How many latencies were recorded. */
  get count(): number {
    return this.#count;
  }

  /** The largest latency recorded, in ms. */
  get max(): number {
    return this.#max;
  }

  /** The mean latency, in ms. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** The latency at quantile `q` (0..1): its bucket's upper bound, at most the maximum. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(upper(i), this.#max);
    }
    return this.#max;
  }

  /**
   * A small text histogram: one row per doubling of latency, from the fastest to the slowest
   * recorded, each with a bar of up to `width` characters and its count.
   */
  render(width = 40): string[] {
    if (this.#count === 0) return [];
    const octaves = new Float64Array(BUCKETS / STEPS);
    for (let i = 0; i < BUCKETS; i++) octaves[Math.floor(i / STEPS)] += this.#counts[i];
    let first = 0;
    while (octaves[first] === 0) first++;
    let last = octaves.length - 1;
    while (octaves[last] === 0) last--;
    let most = 0;
    for (let i = first; i <= last; i++) most = Math.max(most, octaves[i]);
    const rows: string[] = [];
    for (let i = first; i <= last; i++) {
      const low = i === 0 ? 0 : 2 ** (i - 1) / 1000;
      const high = 2 ** i / 1000;
      const bar = "#".repeat(Math.round((octaves[i] / most) * width));
      const label = `${formatMs(low)} - ${formatMs(high)}`.padStart(21);
      rows.push(`${label} | ${bar.padEnd(width)} ${octaves[i]}`);
    }
    return rows;
  }
}

/** The upper bound of bucket `i`, in ms. */
function upper(i: number): number {
  return 2 ** (i / STEPS) / 1000;
}

/** A latency in ms with a sensible unit: `850 µs`, `1.25 ms`, `2.1 s`. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
