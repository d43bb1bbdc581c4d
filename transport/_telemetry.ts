/**
 * OpenTelemetry connection metrics, opt-in (a `PacketConnection`'s or a `Server`'s `telemetry`
 * option): how many connections are live (an UpDownCounter) and how many bytes they moved (an
 * ObservableCounter).
 *
 * Nothing is added to the read or write path: the bytes are read from each live transport's
 * own counters (`transport.stats()`) only when the metrics are collected, and a transport's
 * final counts are added to a running total when it closes. So a connection with telemetry
 * costs a `Set` entry, and one without costs nothing at all.
 *
 * | instrument                    | kind                  | unit           | attributes             |
 * | ----------------------------- | --------------------- | -------------- | ---------------------- |
 * | `{prefix}.connection.active`  | UpDownCounter         | `{connection}` |                        |
 * | `{prefix}.connection.io`      | ObservableCounter     | `By`           | `network.io.direction` (`receive`, `transmit`) |
 *
 * @module
 */

import {
  type Attributes,
  type Meter,
  metrics,
  type ObservableResult,
  type UpDownCounter,
} from "@opentelemetry/api";
import type { TransportStats } from "./stats.ts";
import type { TelemetryMeter } from "./telemetry.ts";

/** The instrumentation scope Plexus reports its spans and metrics under. */
export const TELEMETRY_SCOPE = "@plexus/net";
/** The version reported with {@linkcode TELEMETRY_SCOPE}. */
export const TELEMETRY_VERSION = "0.1.0";

/**
 * The meter `telemetry` names, else one of the global `MeterProvider` as it is now (the metrics
 * API has no proxy provider): the same one for every connection while the provider stays.
 * Deno's built-in provider (`OTEL_DENO=true`) makes a new `Meter` on every `getMeter()`, and the
 * instruments are shared per meter: asked per connection, every connection made its own
 * instruments and an observable callback that was never removed.
 */
export function meterOf(meter: TelemetryMeter | undefined): Meter {
  if (meter !== undefined) return meter as Meter;
  const provider = metrics.getMeterProvider();
  let found = defaultMeters.get(provider);
  if (found === undefined) {
    found = provider.getMeter(TELEMETRY_SCOPE, TELEMETRY_VERSION);
    defaultMeters.set(provider, found);
  }
  return found;
}

/** The meter {@linkcode meterOf} gives for each global provider. */
const defaultMeters = new WeakMap<object, Meter>();

/** What the metrics need of a transport: its counters, when it keeps them. */
export interface CountedTransport {
  stats?(): TransportStats;
}

const RECEIVE: Attributes = { "network.io.direction": "receive" };
const TRANSMIT: Attributes = { "network.io.direction": "transmit" };

/** The instruments of one meter and prefix, shared by every connection that reports to them. */
const byMeter = new WeakMap<Meter, Map<string, ConnectionMetrics>>();

/** Live connections and the bytes they moved, for one meter and instrument-name prefix. */
export class ConnectionMetrics {
  readonly #active: UpDownCounter;
  readonly #live = new Set<CountedTransport>();
  #closedReceived = 0;
  #closedSent = 0;

  /**
   * The metrics of `meter` under `prefix` (made once, then shared).
   *
   * @param prefix `plexus.packet` or `plexus.server`.
   */
  static of(meter: Meter, prefix: string): ConnectionMetrics {
    let map = byMeter.get(meter);
    if (!map) byMeter.set(meter, map = new Map());
    let found = map.get(prefix);
    if (!found) map.set(prefix, found = new ConnectionMetrics(meter, prefix));
    return found;
  }

  private constructor(meter: Meter, prefix: string) {
    this.#active = meter.createUpDownCounter(`${prefix}.connection.active`, {
      description: "Connections open now",
      unit: "{connection}",
    });
    meter.createObservableCounter(`${prefix}.connection.io`, {
      description: "Bytes received from and sent to the peers",
      unit: "By",
    }).addCallback((result) => this.#observe(result));
  }

  /** A connection opened. */
  opened(transport: CountedTransport): void {
    if (this.#live.has(transport)) return;
    this.#live.add(transport);
    this.#active.add(1);
  }

  /** A connection ended: its final byte counts join the total. */
  closed(transport: CountedTransport): void {
    if (!this.#live.delete(transport)) return;
    this.#active.add(-1);
    const stats = transport.stats?.();
    if (!stats) return;
    this.#closedReceived += stats.bytesReceived;
    this.#closedSent += stats.bytesSent;
  }

  #observe(result: ObservableResult): void {
    let received = this.#closedReceived;
    let sent = this.#closedSent;
    for (const transport of this.#live) {
      const stats = transport.stats?.();
      if (!stats) continue;
      received += stats.bytesReceived;
      sent += stats.bytesSent;
    }
    result.observe(received, RECEIVE);
    result.observe(sent, TRANSMIT);
  }
}
