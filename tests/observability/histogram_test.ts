import { assertEquals } from "@std/assert";
import { Histogram } from "../../transport/_histogram.ts";

Deno.test("latency quantiles never fall below a value past the histogram's top bucket", () => {
  const h = new Histogram();
  h.record(10_000_000); // about 2.8 hours: past the last bucket (about 71 minutes)
  const summary = h.summary();
  assertEquals([summary.p50, summary.p99, summary.max], [10_000_000, 10_000_000, 10_000_000]);
});
