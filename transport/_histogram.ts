/**
 * A fixed-size latency histogram: recording costs a few integer operations and no allocation,
 * and the summary estimates quantiles within 12.5 %.
 *
 * Values are kept in microseconds, in log2 buckets each split into 8 linear sub-buckets (an
 * HDR histogram with 3 significant bits): 0–7 µs exactly, then 8–9 µs, 10–11 µs ... up to
 * about 71 minutes, 240 buckets in one `Float64Array`. A quantile is reported as the upper
 * bound of its bucket (never above the largest value seen), so it errs high by at most an
 * eighth. Used for the packet layer's request latency and the CLI's `bench`.
 *
 * @module
 */

/**
 * The summary of a {@linkcode Histogram}, in milliseconds.
 *
 * @example A packet connection's request latency
 * ```ts
 * import { type LatencySummary, PacketConnection } from "@plexus/net/packet";
 * import { assertEquals } from "@std/assert";
 *
 * const connection = new PacketConnection();
 * const latency: LatencySummary = connection.stats().latency;
 * assertEquals(latency.count, 0); // nothing sent yet
 * console.log(`p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms`);
 * ```
 */
export interface LatencySummary {
  /** Values recorded. */
  count: number;
  /** Their mean (exact). */
  mean: number;
  /** The median, estimated (within 12.5 %, never below the true value's bucket). */
  p50: number;
  /** The 90th percentile, estimated. */
  p90: number;
  /** The 99th percentile, estimated. */
  p99: number;
  /** The largest value (exact). */
  max: number;
}

const SUB_BITS = 3;
const SUB = 1 << SUB_BITS;
/** 0–7 µs one bucket each, then 8 sub-buckets for each power of two from 2^3 to 2^31. */
const BUCKETS = SUB + (32 - SUB_BITS) * SUB;
const MAX_US = 0xffffffff;

/** Latency histogram; see the module doc. */
export class Histogram {
  readonly #counts: Float64Array = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #max = 0;

  /** Values recorded. */
  get count(): number {
    return this.#count;
  }

  /**
   * Records one value.
   *
   * @param ms The value in milliseconds (negative and NaN count as 0).
   */
  record(ms: number): void {
    if (!(ms > 0)) ms = 0;
    const us = ms * 1000;
    this.#counts[bucketOf(us < MAX_US ? us >>> 0 : MAX_US)]++;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /**
   * Estimates a quantile: the upper bound of the bucket holding it, capped at the largest
   * value.
   *
   * @param q From 0 to 1.
   * @returns Milliseconds; 0 when nothing was recorded.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    const counts = this.#counts;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i];
      // The last bucket also holds every value past it: only the maximum bounds it.
      if (seen >= rank) {
        return i === BUCKETS - 1 ? this.#max : Math.min(upperBound(i) / 1000, this.#max);
      }
    }
    return this.#max;
  }

  /**
   * The counts per doubling of the value: entry 0 holds the values under 1 µs, entry k ≥ 1
   * those from 2^(k-1) µs to under 2^k µs (33 entries).
   */
  octaves(): Float64Array {
    const rows = new Float64Array(33);
    for (let i = 0; i < BUCKETS; i++) {
      const low = i === 0 ? 0 : upperBound(i - 1); // the bucket's first value, in µs
      rows[low === 0 ? 0 : 32 - Math.clz32(low)] += this.#counts[i];
    }
    return rows;
  }

  /** The count, mean, p50, p90, p99 and max, in milliseconds. */
  summary(): LatencySummary {
    return {
      count: this.#count,
      mean: this.#count === 0 ? 0 : this.#sum / this.#count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.#max,
    };
  }
}

/** The bucket of a whole number of microseconds (0 to 2^32 - 1). */
export function bucketOf(us: number): number {
  if (us < SUB) return us;
  const exponent = 31 - Math.clz32(us);
  return SUB + (exponent - SUB_BITS) * SUB + ((us >>> (exponent - SUB_BITS)) & (SUB - 1));
}

/** The first value past a bucket, in microseconds. */
export function upperBound(bucket: number): number {
  const next = bucket + 1;
  if (next < SUB) return next;
  const exponent = ((next - SUB) >> SUB_BITS) + SUB_BITS;
  return (SUB + ((next - SUB) & (SUB - 1))) * 2 ** (exponent - SUB_BITS);
}
