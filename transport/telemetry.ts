/**
 * The OpenTelemetry objects the `telemetry` options take (`PacketConnection`, `Server`): a tracer
 * and a meter of `npm:@opentelemetry/api`. Only the methods Plexus calls are spelled out here,
 * so any `Tracer` or `Meter` fits (from `trace.getTracer()`, `metrics.getMeter()`, an SDK
 * provider) and Plexus need not re-export the API's types.
 *
 * @module
 */

/**
 * An OpenTelemetry `Tracer` (`trace.getTracer(name)`), as a `telemetry` option takes it.
 *
 * @example Any tracer fits
 * ```ts
 * import type { TelemetryTracer } from "@plexus/net/transport";
 * import { trace } from "@opentelemetry/api";
 *
 * const tracer: TelemetryTracer = trace.getTracer("my-service");
 * ```
 */
export interface TelemetryTracer {
  /** `Tracer.startSpan(name, options, context)`: returns a `Span`. */
  startSpan(name: string, options?: object, context?: object): object;
}

/**
 * An OpenTelemetry `Meter` (`metrics.getMeter(name)`), as a `telemetry` option takes it.
 *
 * @example Any meter fits
 * ```ts
 * import type { TelemetryMeter } from "@plexus/net/transport";
 * import { metrics } from "@opentelemetry/api";
 *
 * const meter: TelemetryMeter = metrics.getMeter("my-service");
 * ```
 */
export interface TelemetryMeter {
  /** `Meter.createHistogram(name, options)`. */
  createHistogram(name: string, options?: object): object;
  /** `Meter.createUpDownCounter(name, options)`. */
  createUpDownCounter(name: string, options?: object): object;
  /** `Meter.createObservableCounter(name, options)`. */
  createObservableCounter(name: string, options?: object): object;
}
