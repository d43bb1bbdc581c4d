/**
 * Interleaved measurement for noisy machines: the raw baseline and our implementation stay
 * connected side by side and take turns running short batches, so load that comes and goes
 * hits both alike. The ratio is total work over total time of each side.
 */

/** One side of a comparison: runs `n` units of work per call. */
export interface Side {
  /** Does `n` units of work (round trips, bytes, ...) and resolves when done. */
  run(n: number): Promise<void>;
  /** Releases the side's connections. */
  close(): Promise<void>;
}

/** The result of {@linkcode compare}. */
export interface Comparison {
  /** Units per second of the raw baseline. */
  raw: number;
  /** Units per second of our implementation. */
  ours: number;
  /** `ours / raw`: above 1 is faster than raw. */
  ratio: number;
  /** The ratio of each half of the run, to show the spread. */
  halves: [number, number];
}

/**
 * Runs `total` units on each side in `batches` alternating batches (raw first on even
 * batches, ours first on odd ones) after one warm-up batch each.
 */
export async function compare(
  raw: Side,
  ours: Side,
  total: number,
  batches = 40,
): Promise<Comparison> {
  const batch = Math.max(1, Math.floor(total / batches));
  await raw.run(batch);
  await ours.run(batch);
  const time = { raw: [0, 0], ours: [0, 0] };
  const timed = async (side: Side, into: number[], half: number): Promise<void> => {
    const start = performance.now();
    await side.run(batch);
    into[half] += performance.now() - start;
  };
  for (let i = 0; i < batches; i++) {
    const half = i < batches / 2 ? 0 : 1;
    if (i % 2 === 0) {
      await timed(raw, time.raw, half);
      await timed(ours, time.ours, half);
    } else {
      await timed(ours, time.ours, half);
      await timed(raw, time.raw, half);
    }
  }
  await raw.close();
  await ours.close();
  const rate = (ms: number, share: number): number => (batch * batches * share) / (ms / 1000);
  const rawRate = rate(time.raw[0] + time.raw[1], 1);
  const oursRate = rate(time.ours[0] + time.ours[1], 1);
  return {
    raw: rawRate,
    ours: oursRate,
    ratio: oursRate / rawRate,
    halves: [time.raw[0] / time.ours[0], time.raw[1] / time.ours[1]],
  };
}
