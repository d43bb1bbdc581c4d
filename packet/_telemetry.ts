/**
 * A packet connection's OpenTelemetry side (see {@linkcode PacketTelemetryOptions}): the request
 * spans, the request-duration histogram, the connection metrics, and the trace context that
 * travels with a request once the peer agreed to take it.
 *
 * A request carrying trace context is one extension request (rq_type `EXTENSION_RQ_TYPE`, flags
 * `ExtensionOp.traced`) on the request's own channel and tag, answered as the request itself:
 *
 * ```
 *  payload = BSUInt(user rq_type) BSUInt(user flags) BSUInt(n) context(n bytes) request payload
 *  context = traceparent [ "\n" tracestate ]        (UTF-8, W3C Trace Context text forms)
 * ```
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context as contexts,
  createTraceState,
  type Histogram,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
} from "@opentelemetry/api";
import { decodeBSUInt, encodeBSUInt } from "../framing/varint.ts";
import {
  ConnectionMetrics,
  type CountedTransport,
  meterOf,
  TELEMETRY_SCOPE,
  TELEMETRY_VERSION,
} from "../transport/_telemetry.ts";
import type { PacketFields } from "./_codec.ts";
import { EXTENSION_RQ_TYPE } from "./extension.ts";
import type { PacketTelemetryOptions } from "./telemetry.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CLIENT_OK: Attributes = { "plexus.packet.role": "client", "plexus.packet.ok": true };
const CLIENT_FAILED: Attributes = { "plexus.packet.role": "client", "plexus.packet.ok": false };
const SERVER_OK: Attributes = { "plexus.packet.role": "server", "plexus.packet.ok": true };
const SERVER_FAILED: Attributes = { "plexus.packet.role": "server", "plexus.packet.ok": false };

/** The histograms of each meter (one instrument, shared by its connections). */
const durations = new WeakMap<object, Histogram>();

/** One connection's telemetry. */
export class PacketTelemetry {
  readonly #tracer: Tracer;
  readonly #duration: Histogram;
  readonly #connections: ConnectionMetrics;
  /** The connection's name, read when a span starts: the transport's once connected. */
  readonly #name: () => string;
  #transport: CountedTransport | undefined;
  /** Whether trace context is offered to the peer and taken from it. */
  readonly propagate: boolean;
  /** Whether our requests carry trace context: the peer agreed to take it. */
  propagating = false;

  constructor(options: true | PacketTelemetryOptions, name: () => string) {
    const { tracer, meter, propagate } = options === true ? {} : options;
    this.#tracer = (tracer as Tracer | undefined) ??
      trace.getTracer(TELEMETRY_SCOPE, TELEMETRY_VERSION);
    const m = meterOf(meter);
    let duration = durations.get(m);
    if (!duration) {
      duration = m.createHistogram("plexus.packet.request.duration", {
        description: "Time from a request's submit (or arrival) until its response",
        unit: "ms",
      });
      durations.set(m, duration);
    }
    this.#duration = duration;
    this.#connections = ConnectionMetrics.of(m, "plexus.packet");
    this.#name = name;
    this.propagate = propagate ?? true;
  }

  /** The connection is made. */
  opened(transport: CountedTransport): void {
    this.#transport = transport;
    this.#connections.opened(transport);
  }

  /** The connection ended. */
  closed(): void {
    if (this.#transport) this.#connections.closed(this.#transport);
  }

  /** Starts the span of one of our requests, a child of the active context. */
  client(
    rqType: number,
    channel: number,
    size: number,
    label: string | undefined,
  ): RequestSpan {
    const span = this.#tracer.startSpan(`packet ${label ?? rqType}`, {
      kind: SpanKind.CLIENT,
      attributes: this.#attributes(rqType, channel, size),
    });
    return new RequestSpan(this, span, true);
  }

  /**
   * Starts the span of one of the peer's requests: the child of the trace context it carried,
   * else the root of a new trace (never of whatever context reading happens to run in).
   */
  server(rqType: number, channel: number, size: number, parent: Context | undefined): RequestSpan {
    const span = this.#tracer.startSpan(
      `packet ${rqType}`,
      { kind: SpanKind.SERVER, attributes: this.#attributes(rqType, channel, size) },
      parent ?? ROOT_CONTEXT,
    );
    return new RequestSpan(this, span, false);
  }

  /** Records a request's duration. */
  record(ms: number, client: boolean, ok: boolean): void {
    this.#duration.record(
      ms,
      client ? (ok ? CLIENT_OK : CLIENT_FAILED) : (ok ? SERVER_OK : SERVER_FAILED),
    );
  }

  #attributes(rqType: number, channel: number, size: number): Attributes {
    return {
      "rpc.system": "cs.packetstream",
      "plexus.connection.name": this.#name(),
      "plexus.packet.rq_type": rqType,
      "plexus.packet.channel": channel,
      "plexus.packet.request.size": size,
    };
  }
}

/** One request's span, on either side; ends once (later calls do nothing). */
export class RequestSpan {
  readonly #telemetry: PacketTelemetry;
  readonly span: Span;
  readonly #client: boolean;
  readonly #start = performance.now();
  #ended = false;

  constructor(telemetry: PacketTelemetry, span: Span, client: boolean) {
    this.#telemetry = telemetry;
    this.span = span;
    this.#client = client;
  }

  /** Whether this request is to carry trace context (ours, and the peer agreed). */
  get propagating(): boolean {
    return this.#client && this.#telemetry.propagating;
  }

  /**
   * A response came (ours) or went (the peer's): ok or not, and its payload; `error` when our
   * call failed on it all the same (its `decode` threw).
   */
  responded(ok: boolean, payload: Uint8Array, error?: unknown): void {
    if (this.#ended) return;
    this.span.setAttribute("plexus.packet.ok", ok);
    this.span.setAttribute("plexus.packet.response.size", payload.byteLength);
    if (error !== undefined) {
      // The answer came, but the call failed on it (its decode threw).
      this.failed(error);
      return;
    }
    if (!ok) {
      this.span.setStatus({
        code: SpanStatusCode.ERROR,
        message: decoder.decode(payload.subarray(0, 200)),
      });
    }
    this.#end(ok);
  }

  /** The request failed without a response (cancelled, timed out, connection ended). */
  failed(error: unknown): void {
    if (this.#ended) return;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error) this.span.recordException(error);
    this.span.setAttribute("error.type", error instanceof Error ? error.name : "Error");
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
    this.#end(false);
  }

  /** Runs `fn` with this span active (a handler: its own requests become children). */
  run<T>(fn: () => T): T {
    return contexts.with(trace.setSpan(contexts.active(), this.span), fn);
  }

  /** Wraps one of our requests with its trace context (see the module doc). */
  wrap(rqType: number, flags: number, payload: Uint8Array): Uint8Array {
    const { traceId, spanId, traceFlags, traceState } = this.span.spanContext();
    const sampled = (traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? "01" : "00";
    let text = `00-${traceId}-${spanId}-${sampled}`;
    const state = traceState?.serialize();
    if (state) text += `\n${state}`;
    const context = encoder.encode(text);
    const parts = [
      encodeBSUInt(rqType),
      encodeBSUInt(flags),
      encodeBSUInt(context.byteLength),
      context,
      payload,
    ];
    let length = 0;
    for (const part of parts) length += part.byteLength;
    const out = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  #end(ok: boolean): void {
    this.#ended = true;
    this.span.end();
    this.#telemetry.record(performance.now() - this.#start, this.#client, ok);
  }
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Unwraps a request that carries trace context (see the module doc) in place: `packet` becomes
 * the request it wraps. Returns the context the trace context names (`ROOT_CONTEXT` when it is
 * no valid traceparent, as W3C says to ignore such), or `undefined` when the wrapping itself is
 * malformed.
 */
export function unwrapTraced(packet: PacketFields): Context | undefined {
  const payload = packet.payload;
  try {
    const rqType = decodeBSUInt(payload);
    if (!rqType) return undefined;
    let at = rqType.length;
    const flags = decodeBSUInt(payload, at);
    if (!flags) return undefined;
    at += flags.length;
    const length = decodeBSUInt(payload, at);
    if (!length) return undefined;
    at += length.length;
    if (at + length.value > payload.byteLength) return undefined;
    if (rqType.value === EXTENSION_RQ_TYPE) return undefined;
    const text = decoder.decode(payload.subarray(at, at + length.value));
    packet.rqType = rqType.value + 1;
    packet.flags = flags.value;
    packet.payload = payload.subarray(at + length.value);
    return parseTraceContext(text);
  } catch {
    return undefined;
  }
}

function parseTraceContext(text: string): Context {
  const newline = text.indexOf("\n");
  const parent = newline < 0 ? text : text.slice(0, newline);
  const match = TRACEPARENT.exec(parent.trim());
  if (!match || match[1] === "ff" || (match[1] === "00" && match[5] !== undefined)) {
    return ROOT_CONTEXT;
  }
  const spanContext = {
    traceId: match[2],
    spanId: match[3],
    traceFlags: parseInt(match[4], 16) & TraceFlags.SAMPLED,
    isRemote: true,
    traceState: newline < 0 ? undefined : createTraceState(text.slice(newline + 1)),
  };
  if (!isSpanContextValid(spanContext)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, spanContext);
}
