/**
 * Under Deno's built-in OpenTelemetry (OTEL_DENO=true, the setup the README shows), the global
 * provider makes a new Meter on every `getMeter()`: connections with `telemetry: true` must
 * still share one set of instruments, or every connection leaves an observable callback behind.
 */
import { assertEquals } from "@std/assert";

Deno.test("telemetry: true makes its instruments once under Deno's built-in OpenTelemetry", async () => {
  const child = new URL("./_otel_default_meter_child.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, "20"],
    env: {
      OTEL_DENO: "true",
      // Nothing is exported within the run: no collector is needed.
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
      OTEL_METRIC_EXPORT_INTERVAL: "600000",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  const counts = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  // It was one of each per connection: 40 for 20 pairs.
  assertEquals(counts, { observable: 1, callbacks: 1, histograms: 1 });
});
