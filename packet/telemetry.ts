import type { TelemetryMeter, TelemetryTracer } from "../transport/telemetry.ts";

/**
 * Where a {@linkcode PacketConnection}'s OpenTelemetry spans and metrics go (its `telemetry`
 * option; `telemetry: true` takes every default).
 *
 * With telemetry on, each request gets a span on each side: a `CLIENT` span from `submit()`
 * (or `call()`, `request()`) until the request settles, a child of the context active then;
 * and a `SERVER` span from the peer's request's arrival until its response is handed to the
 * transport, the handler running in its context. Both are named `packet {rq_type}` (or
 * `packet {label}` for a labelled request of ours) and carry these attributes:
 *
 * | attribute                      | value                                               |
 * | ------------------------------ | --------------------------------------------------- |
 * | `rpc.system`                   | `"cs.packetstream"`                                 |
 * | `plexus.connection.name`       | the connection's `name`                             |
 * | `plexus.packet.rq_type`        | the user rq_type                                    |
 * | `plexus.packet.channel`        | the channel                                         |
 * | `plexus.packet.request.size`   | the request payload's length in bytes               |
 * | `plexus.packet.ok`             | whether the response was ok (absent without one)    |
 * | `plexus.packet.response.size`  | the response payload's length in bytes              |
 *
 * A failure response, a cancelled or timed-out request, and a connection that ended first set
 * the span's status to `ERROR` (an exception is recorded for the last two).
 *
 * Metrics: `plexus.packet.connection.active` (UpDownCounter), `plexus.packet.connection.io`
 * (ObservableCounter of bytes, `network.io.direction` `receive` / `transmit`, read from the
 * transport's counters when collected), and `plexus.packet.request.duration` (Histogram, ms,
 * `plexus.packet.role` `client` / `server` and `plexus.packet.ok`).
 *
 * **Trace context** (W3C `traceparent` and `tracestate`) reaches the peer only when both sides
 * have telemetry on (with `propagate`) and the Plexus extensions on: once the peer accepted
 * our offer of the extensions, we ask it whether it takes trace context (extension operation
 * 3); only if it says yes do our requests carry it, each as one extension request (operation
 * 4) that wraps the request, answered as the request itself. The peer's `SERVER` span is then
 * the child of our `CLIENT` span. A plain cs.packetstream peer never gets any of this: the
 * bytes it sees are the same with telemetry on or off. Our `extensions` promise resolves only
 * once this is settled, so requests made after it carry trace context. The wrapping adds about
 * 60 bytes (more with a `tracestate`) to each request, which counts against `maxPacketSize`.
 *
 * Without the `telemetry` option none of this runs: a connection checks one field per request
 * and allocates nothing for it. The `@opentelemetry/api` npm package is still loaded by every
 * importer of the packet layer (it is imported statically); with no SDK registered, that is
 * its no-op API.
 *
 * @example Spans and metrics to the global providers (Deno's built-in `OTEL_DENO=true`)
 * ```ts
 * import { PacketConnection, type PacketTelemetryOptions } from "@plexus/net/packet";
 * import { trace } from "@opentelemetry/api";
 *
 * const telemetry: PacketTelemetryOptions = { tracer: trace.getTracer("my-service") };
 * const connection = new PacketConnection({ telemetry, extensions: true });
 * ```
 */
export interface PacketTelemetryOptions {
  /**
   * The tracer the request spans are made with.
   *
   * @default {the global tracer provider's, scope `@plexus/net`}
   */
  tracer?: TelemetryTracer;
  /**
   * The meter the metrics are recorded with. Connections given the same meter share its
   * instruments: get it once, not per connection (a new meter per connection makes new
   * instruments each time).
   *
   * @default {the global meter provider's when the connection is made (one per provider), scope `@plexus/net`}
   */
  meter?: TelemetryMeter;
  /**
   * Send trace context to a peer that agreed to take it, and agree to take the peer's (both
   * need the `extensions` option too).
   *
   * @default {true}
   */
  propagate?: boolean;
}
