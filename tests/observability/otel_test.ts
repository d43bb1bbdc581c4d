/**
 * OpenTelemetry: real spans and metrics from real TCP connections, read back through an
 * in-memory exporter and a pull metric reader.
 */

import {
  type Context,
  context,
  type ContextManager,
  metrics,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { createConnection, createServer } from "@plexus/net/endpoints";
import {
  EXTENSION_RQ_TYPE,
  Packet,
  PacketConnection,
  type PacketConnectionOptions,
  PacketFramer,
  type PacketRequestContext,
  RemoteError,
} from "@plexus/net/packet";
import { decodeFrames, encodeFrame } from "@plexus/net/framing";
import { tcpPair } from "../_net.ts";

/**
 * Keeps the finished spans and answers each export at once. (The SDK's `InMemorySpanExporter`
 * answers from a 0 ms timer, which can outlive the test: the op sanitizer reports it.)
 */
class MemoryExporter implements SpanExporter {
  readonly #spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: Parameters<SpanExporter["export"]>[1]): void {
    this.#spans.push(...spans);
    done({ code: 0 }); // ExportResultCode.SUCCESS
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  getFinishedSpans(): ReadableSpan[] {
    return this.#spans;
  }
}

/** A tracer whose finished spans can be read back. */
function tracing(): {
  tracer: ReturnType<BasicTracerProvider["getTracer"]>;
  spans: () => ReadableSpan[];
} {
  const exporter = new MemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { tracer: provider.getTracer("test"), spans: () => exporter.getFinishedSpans() };
}

/** The context set by `with()` while its callback runs (no async propagation). */
class SyncContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.#current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#current;
    this.#current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = previous;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
}

/** A metric reader that collects on demand. */
class PullReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** A meter and a way to read its instruments' data points now. */
function metering() {
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter("test");
  async function points(name: string): Promise<DataPoint<number | Histogram>[]> {
    const { resourceMetrics } = await reader.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name === name) {
          return metric.dataPoints as DataPoint<number | Histogram>[];
        }
      }
    }
    return [];
  }
  /** The value of a counter's point with `attributes` (0 when absent). */
  async function value(name: string, attributes: Record<string, unknown> = {}): Promise<number> {
    const point = (await points(name)).find((p) =>
      JSON.stringify(p.attributes) === JSON.stringify(attributes)
    );
    return (point?.value as number | undefined) ?? 0;
  }
  return { meter, points, value };
}

const text = new TextDecoder();
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function byName(spans: ReadableSpan[], name: string, kind: SpanKind): ReadableSpan {
  const found = spans.filter((s) => s.name === name && s.kind === kind);
  assertEquals(found.length, 1, `one ${SpanKind[kind]} span ${name}, got ${found.length}`);
  return found[0];
}

/** A handler: 7 upper-cases, 8 fails on purpose, 11 waits until cancelled, others throw. */
function handler(
  rqType: number,
  _flags: number,
  payload: Uint8Array,
  { signal }: PacketRequestContext,
): string | Promise<string> {
  if (rqType === 7) return text.decode(payload).toUpperCase();
  if (rqType === 8) throw new RemoteError(3, "refused on purpose");
  if (rqType === 11) {
    return new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  }
  throw new Error("boom");
}

/** A server and a client over TCP, each with its own tracer. */
async function pair(
  serverOptions: PacketConnectionOptions,
  clientOptions: PacketConnectionOptions,
) {
  const serverSide = tracing();
  const clientSide = tracing();
  const served: PacketConnection[] = [];
  const server = await createServer(() => {
    const connection = new PacketConnection({
      requestHandler: handler,
      onHandlerError: () => {},
      ...serverOptions,
      telemetry: serverOptions.telemetry === undefined
        ? undefined
        : { tracer: serverSide.tracer, ...(serverOptions.telemetry as object) },
    });
    served.push(connection);
    return connection;
  }, "127.0.0.1:0");
  const { protocol: client } = await createConnection(
    () =>
      new PacketConnection({
        ...clientOptions,
        telemetry: clientOptions.telemetry === undefined
          ? undefined
          : { tracer: clientSide.tracer, ...(clientOptions.telemetry as object) },
      }),
    server.addresses[0],
  );
  return { server, client, served, serverSpans: serverSide.spans, clientSpans: clientSide.spans };
}

Deno.test("spans on both sides; the server's is the client's child when both agreed", async () => {
  const { server, client, served, serverSpans, clientSpans } = await pair(
    { extensions: true, telemetry: {} },
    { extensions: true, telemetry: {}, name: "the-client" },
  );
  assertEquals(await client.extensions, true);
  assertEquals(text.decode(await client.call(7, "hello")), "HELLO");
  const refused = await client.submit(8, { payload: "xy", label: "refuse me" });
  assertEquals(refused.ok, false);
  assertEquals((await client.submit(9, { channel: 4 })).ok, false);
  await client.close();
  await served[0].closed;
  await server.close();

  const clientAll = clientSpans();
  const serverAll = serverSpans();
  // One span per application request on each side; none for the extension requests.
  assertEquals(clientAll.map((s) => s.name).sort(), ["packet 7", "packet 9", "packet refuse me"]);
  assertEquals(serverAll.map((s) => s.name).sort(), ["packet 7", "packet 8", "packet 9"]);

  const c7 = byName(clientAll, "packet 7", SpanKind.CLIENT);
  const s7 = byName(serverAll, "packet 7", SpanKind.SERVER);
  assertEquals(c7.attributes, {
    "rpc.system": "cs.packetstream",
    "plexus.connection.name": "the-client",
    "plexus.packet.rq_type": 7,
    "plexus.packet.channel": 0,
    "plexus.packet.request.size": 5,
    "plexus.packet.ok": true,
    "plexus.packet.response.size": 5,
  });
  assertEquals(c7.status.code, SpanStatusCode.UNSET);
  assertEquals(s7.attributes["plexus.packet.rq_type"], 7);
  assertEquals(s7.attributes["plexus.packet.request.size"], 5);
  assertEquals(s7.attributes["plexus.packet.response.size"], 5);
  assertEquals(s7.attributes["plexus.packet.ok"], true);
  // Parent and child across the connection.
  assertEquals(s7.spanContext().traceId, c7.spanContext().traceId);
  assertEquals(s7.parentSpanContext?.spanId, c7.spanContext().spanId);
  assertEquals(s7.parentSpanContext?.isRemote, true);

  const c8 = byName(clientAll, "packet refuse me", SpanKind.CLIENT);
  const s8 = byName(serverAll, "packet 8", SpanKind.SERVER);
  assertEquals(c8.attributes["plexus.packet.ok"], false);
  assertEquals(c8.attributes["plexus.packet.request.size"], 2);
  assertEquals(c8.attributes["plexus.packet.response.size"], "refused on purpose".length);
  assertEquals(c8.status, { code: SpanStatusCode.ERROR, message: "refused on purpose" });
  assertEquals(s8.status, { code: SpanStatusCode.ERROR, message: "refused on purpose" });
  assertEquals(s8.parentSpanContext?.spanId, c8.spanContext().spanId);

  // A handler that throws: the server span records the exception; channel 4 is carried too.
  const c9 = byName(clientAll, "packet 9", SpanKind.CLIENT);
  const s9 = byName(serverAll, "packet 9", SpanKind.SERVER);
  assertEquals(c9.attributes["plexus.packet.channel"], 4);
  assertEquals(s9.attributes["plexus.packet.channel"], 4);
  assertEquals(s9.status.message, "exception during handler");
  assertEquals(s9.events.map((e) => e.name), ["exception"]);
  assertEquals(s9.events[0].attributes?.["exception.message"], "boom");
  assertEquals(s9.parentSpanContext?.spanId, c9.spanContext().spanId);
});

Deno.test("the client span is a child of the active span; a failure records the error", async () => {
  const { server, client, served, clientSpans, serverSpans } = await pair(
    { extensions: true, telemetry: {} },
    { extensions: true, telemetry: {} },
  );
  assertEquals(await client.extensions, true);
  const outer = tracing();
  const parent: Span = outer.tracer.startSpan("outer");
  // A synchronous context manager is enough: the span is taken when `call()` is made.
  assert(context.setGlobalContextManager(new SyncContextManager()));
  let call: Promise<Uint8Array>;
  try {
    call = context.with(trace.setSpan(context.active(), parent), () => client.call(7, "a"));
  } finally {
    context.disable();
  }
  await call;
  parent.end();
  // Never answered until cancelled: the timeout cancels it on both sides.
  const error = await client.call(11, "never", { timeout: 50 }).catch((e) => e);
  assertEquals(error.name, "TimeoutError");
  await client.close();
  await served[0].closed;
  await server.close();
  const spans = clientSpans();
  const c7 = byName(spans, "packet 7", SpanKind.CLIENT);
  assertEquals(c7.parentSpanContext?.spanId, parent.spanContext().spanId);
  assertEquals(c7.spanContext().traceId, parent.spanContext().traceId);
  const c11 = byName(spans, "packet 11", SpanKind.CLIENT);
  assertEquals(c11.status.code, SpanStatusCode.ERROR);
  assertEquals(c11.attributes["error.type"], "TimeoutError");
  assertEquals(c11.attributes["plexus.packet.ok"], undefined);
  assertEquals(c11.events.map((e) => e.name), ["exception"]);
  // The server's handler saw the cancel: its span ends failed, the child of the client's.
  const s11 = byName(serverSpans(), "packet 11", SpanKind.SERVER);
  assertEquals(s11.status.code, SpanStatusCode.ERROR);
  assertEquals(s11.parentSpanContext?.spanId, c11.spanContext().spanId);
});

Deno.test("a call whose decode throws on its answer ends its client span failed", async () => {
  // The span was ended ok when the answer came, though the call then rejected.
  const { server, client, served, clientSpans } = await pair({ telemetry: {} }, { telemetry: {} });
  const error = await client.call(7, "a", {
    decode: () => {
      throw new TypeError("not the shape I expected");
    },
  }).catch((e) => e);
  assertEquals(error.message, "not the shape I expected");
  await client.close();
  await served[0].closed;
  await server.close();
  const c7 = byName(clientSpans(), "packet 7", SpanKind.CLIENT);
  assertEquals(c7.status.code, SpanStatusCode.ERROR);
  assertEquals(c7.attributes["error.type"], "TypeError");
  assertEquals(c7.attributes["plexus.packet.ok"], true, "the answer itself was ok");
});

Deno.test("no trace context without agreement: each side's spans start their own traces", async () => {
  const cases: [string, PacketConnectionOptions, PacketConnectionOptions][] = [
    ["server without extensions", { telemetry: {} }, { extensions: true, telemetry: {} }],
    ["server without telemetry", { extensions: true }, { extensions: true, telemetry: {} }],
    [
      "client does not propagate",
      { extensions: true, telemetry: {} },
      { extensions: true, telemetry: { propagate: false } },
    ],
    [
      "server does not propagate",
      { extensions: true, telemetry: { propagate: false } },
      { extensions: true, telemetry: {} },
    ],
  ];
  for (const [what, serverOptions, clientOptions] of cases) {
    const { server, client, served, serverSpans, clientSpans } = await pair(
      serverOptions,
      clientOptions,
    );
    await client.extensions;
    assertEquals(text.decode(await client.call(7, "abc")), "ABC", what);
    await client.close();
    await served[0].closed;
    await server.close();
    const c7 = byName(clientSpans(), "packet 7", SpanKind.CLIENT);
    assertEquals(c7.attributes["plexus.packet.ok"], true, what);
    const s7 = serverSpans().find((s) => s.name === "packet 7");
    if (serverOptions.telemetry) {
      if (!s7) throw new Error(`${what}: no server span`);
      assertEquals(s7.parentSpanContext, undefined, what);
      assertNotEquals(s7.spanContext().traceId, c7.spanContext().traceId, what);
    } else {
      assertEquals(s7, undefined, what);
    }
  }
});

/** Runs a client with `extensions` against a plain peer over TCP; returns what the peer read. */
async function plainPeerBytes(telemetry: boolean): Promise<{ bytes: Uint8Array; spans: number }> {
  const [a, b] = await tcpPair();
  const read: Uint8Array[] = [];
  const recorded = b.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read.push(chunk.slice());
        controller.enqueue(chunk);
      },
    }),
  );
  // A peer that speaks cs.packetstream only: it refuses the offer as any unknown request.
  const peer = PacketConnection.fromStreams(
    { readable: recorded, writable: b.writable },
    { requestHandler: handler, onHandlerError: () => {}, closeStreams: true },
  );
  const { tracer, spans } = tracing();
  const client = PacketConnection.fromStreams(a, {
    extensions: true,
    telemetry: telemetry ? { tracer } : false,
    closeStreams: true,
  });
  assertEquals(await client.extensions, false);
  assertEquals(text.decode(await client.call(7, "plain")), "PLAIN");
  assertEquals((await client.submit(8, { flags: 5, payload: "x" })).ok, false);
  await client.close();
  await peer.closed;
  let length = 0;
  for (const chunk of read) length += chunk.byteLength;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of read) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes, spans: spans().length };
}

Deno.test("a plain cs.packetstream peer sees byte-identical traffic with telemetry on", async () => {
  const off = await plainPeerBytes(false);
  const on = await plainPeerBytes(true);
  assertEquals(off.spans, 0);
  assertEquals(on.spans, 2);
  assertEquals(on.bytes, off.bytes);
  // Exactly: the offer, the two requests, ERQ, EOF; the only extension packet is the offer.
  const packets = decodeFrames(new PacketFramer(), on.bytes);
  const offer = Packet.request(2, EXTENSION_RQ_TYPE, { payload: utf8("plexus-ext/1?") });
  assertEquals(packets.map((p) => p.toString()), [
    offer.toString(),
    Packet.request(3, 7, { payload: utf8("plain") }).toString(),
    Packet.request(4, 8, { flags: 5, payload: utf8("x") }).toString(),
    Packet.ERQ.toString(),
    Packet.EOF.toString(),
  ]);
  assertEquals(
    on.bytes.byteLength,
    packets.reduce((n, p) => n + encodeFrame(new PacketFramer(), p).byteLength, 0),
  );
});

Deno.test("metrics: live connections, bytes both ways and request durations", async () => {
  const clientMetrics = metering();
  const serverMetrics = metering();
  const served: PacketConnection[] = [];
  const server = await createServer(
    () => {
      const connection = new PacketConnection({
        requestHandler: handler,
        onHandlerError: () => {},
        telemetry: { meter: serverMetrics.meter },
      });
      served.push(connection);
      return connection;
    },
    "127.0.0.1:0",
    { telemetry: { meter: serverMetrics.meter } },
  );
  const { protocol: client } = await createConnection(
    () => new PacketConnection({ telemetry: { meter: clientMetrics.meter } }),
    server.addresses[0],
  );
  const payloads = ["one", "two two", "three three three"];
  for (const p of payloads) await client.call(7, p);
  assertEquals((await client.submit(8, { payload: "no" })).ok, false);

  // What went over the wire, packet by packet (no extensions: nothing else).
  const framer = new PacketFramer();
  const size = (packet: Packet): number => encodeFrame(framer, packet).byteLength;
  let sent = 0;
  let received = 0;
  payloads.forEach((p, i) => {
    sent += size(Packet.request(2 + i, 7, { payload: utf8(p) }));
    received += size(Packet.response(2 + i, true, { payload: utf8(p.toUpperCase()) }));
  });
  sent += size(Packet.request(5, 8, { payload: utf8("no") }));
  received += size(Packet.response(5, false, { flags: 3, payload: utf8("refused on purpose") }));

  const active = "plexus.packet.connection.active";
  const io = "plexus.packet.connection.io";
  assertEquals(await clientMetrics.value(active), 1);
  assertEquals(await serverMetrics.value(active), 1);
  assertEquals(await serverMetrics.value("plexus.server.connection.active"), 1);
  assertEquals(await clientMetrics.value(io, { "network.io.direction": "transmit" }), sent);
  assertEquals(await clientMetrics.value(io, { "network.io.direction": "receive" }), received);
  assertEquals(await serverMetrics.value(io, { "network.io.direction": "receive" }), sent);
  assertEquals(await serverMetrics.value(io, { "network.io.direction": "transmit" }), received);
  const serverIo = "plexus.server.connection.io";
  assertEquals(await serverMetrics.value(serverIo, { "network.io.direction": "receive" }), sent);

  await client.close();
  await served[0].closed;
  await server.close();
  // Closed: none live, and the bytes stay counted (plus ERQ and EOF each way, 4 bytes each).
  assertEquals(await clientMetrics.value(active), 0);
  assertEquals(await serverMetrics.value(active), 0);
  assertEquals(await serverMetrics.value("plexus.server.connection.active"), 0);
  assertEquals(await clientMetrics.value(io, { "network.io.direction": "transmit" }), sent + 8);
  assertEquals(await clientMetrics.value(io, { "network.io.direction": "receive" }), received + 8);
  assertEquals(
    await serverMetrics.value(serverIo, { "network.io.direction": "transmit" }),
    received + 8,
  );

  const durations = await clientMetrics.points("plexus.packet.request.duration");
  const summary = durations.map((p) => ({
    attributes: p.attributes,
    count: (p.value as Histogram).count,
  }));
  assertEquals(summary.sort((x, y) => x.count - y.count), [
    { attributes: { "plexus.packet.role": "client", "plexus.packet.ok": false }, count: 1 },
    { attributes: { "plexus.packet.role": "client", "plexus.packet.ok": true }, count: 3 },
  ]);
  for (const p of durations) {
    const h = p.value as Histogram;
    assert(h.sum! >= 0 && h.max! < 10_000, `duration in ms: ${h.sum}`);
  }
  const served7 = (await serverMetrics.points("plexus.packet.request.duration"))
    .map((
      p,
    ) => [
      p.attributes["plexus.packet.role"],
      p.attributes["plexus.packet.ok"],
      (p.value as Histogram).count,
    ]);
  assertEquals(served7.sort(), [["server", false, 1], ["server", true, 3]]);
});

Deno.test("telemetry: true reports to the global providers", async () => {
  const { tracer: _unused, spans } = tracing();
  const exporter = new MemoryExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new PullReader();
  assert(trace.setGlobalTracerProvider(provider));
  assert(metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] })));
  try {
    const server = await createServer(
      () => new PacketConnection({ requestHandler: handler, telemetry: true }),
      "127.0.0.1:0",
    );
    const { protocol: client } = await createConnection(
      () => new PacketConnection({ telemetry: true }),
      server.addresses[0],
    );
    await client.call(7, "g");
    await client.close();
    await server.close();
    const names = exporter.getFinishedSpans().map((s) => `${SpanKind[s.kind]} ${s.name}`).sort();
    assertEquals(names, ["CLIENT packet 7", "SERVER packet 7"]);
    const { resourceMetrics } = await reader.collect();
    const instruments = resourceMetrics.scopeMetrics.flatMap((s) =>
      s.metrics.map((m) => `${s.scope.name} ${m.descriptor.name}`)
    ).sort();
    assertEquals(instruments, [
      "@plexus/net plexus.packet.connection.active",
      "@plexus/net plexus.packet.connection.io",
      "@plexus/net plexus.packet.request.duration",
    ]);
    assertEquals(spans().length, 0);
  } finally {
    trace.disable();
    metrics.disable();
  }
});
