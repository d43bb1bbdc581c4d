/**
 * Run with OTEL_DENO=true (Deno's built-in meter provider is then the global one): opens and
 * closes `n` packet connection pairs with `telemetry: true` and prints how many histograms,
 * observable counters and observable callbacks Deno's meters were asked for.
 */
import { metrics } from "@opentelemetry/api";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";

const counts = { observable: 0, callbacks: 0, histograms: 0 };
const meterPrototype = Object.getPrototypeOf(metrics.getMeter("probe"));
const createObservableCounter = meterPrototype.createObservableCounter;
meterPrototype.createObservableCounter = function (...args: unknown[]) {
  counts.observable++;
  const counter = createObservableCounter.apply(this, args);
  const addCallback = counter.addCallback;
  counter.addCallback = function (...callbackArgs: unknown[]) {
    counts.callbacks++;
    return addCallback.apply(this, callbackArgs);
  };
  return counter;
};
const createHistogram = meterPrototype.createHistogram;
meterPrototype.createHistogram = function (...args: unknown[]) {
  counts.histograms++;
  return createHistogram.apply(this, args);
};

const n = Number(Deno.args[0] ?? 20);
for (let i = 0; i < n; i++) {
  const server = new PacketConnection({ telemetry: true, requestHandler: () => "ok" });
  const client = new PacketConnection({ telemetry: true });
  createMemoryTransportPair(server, client);
  await client.call(0, "x");
  await client.close();
  await server.closed;
}
console.log(JSON.stringify(counts));
