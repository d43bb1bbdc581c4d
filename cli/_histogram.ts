/**
 * How `bench` prints latencies: a text histogram of a {@linkcode Histogram} (the packet
 * layer's latency histogram), and latencies with a sensible unit.
 *
 * @module
 */

import type { Histogram } from "../transport/_histogram.ts";

/**
 * A small text histogram: one row per doubling of latency, from the fastest to the slowest
 * recorded, each with a bar of up to `width` characters and its count.
 */
export function renderHistogram(histogram: Histogram, width = 40): string[] {
  if (histogram.count === 0) return [];
  // Row i: from 2^(i-1) µs to under 2^i µs (row 0: under 1 µs).
  const octaves = histogram.octaves();
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

/** A latency in ms with a sensible unit: `850 µs`, `1.25 ms`, `2.1 s`. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
