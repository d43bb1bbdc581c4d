/**
 * Packet RPC with OpenTelemetry spans and metrics, exported by Deno's built-in OpenTelemetry to
 * a local OTLP endpoint (an OpenTelemetry Collector, Jaeger, Grafana's LGTM image, ...):
 *
 * ```
 * OTEL_DENO=true OTEL_SERVICE_NAME=plexus-example \
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
 *   deno run --allow-net=127.0.0.1 --allow-env examples/otel_export.ts
 * ```
 *
 * A server and a client in one process, both with `telemetry: true` (the global tracer and
 * meter, which `OTEL_DENO=true` sets up) and the Plexus extensions, so each request's `SERVER`
 * span is the child of its `CLIENT` span, and both are children of the `example` span. Without
 * `OTEL_DENO=true` it runs the same, and the API's no-op default records nothing.
 *
 * @module
 */

import { trace } from "@opentelemetry/api";
import { createConnection, createServer } from "@plexus/net/endpoints";
import { PacketConnection, RemoteError } from "@plexus/net/packet";

const text = new TextDecoder();

await using server = await createServer(
  () =>
    new PacketConnection({
      name: "server",
      telemetry: true,
      extensions: true,
      requestHandler: (rqType, _flags, payload) => {
        if (rqType === 1) return text.decode(payload).toUpperCase();
        throw new RemoteError(0, `unknown rq_type ${rqType}`);
      },
    }),
  "127.0.0.1:0",
  { telemetry: true },
);

const { protocol: client } = await createConnection(
  () => new PacketConnection({ name: "client", telemetry: true, extensions: true }),
  server.addresses[0],
);
await client.extensions; // settled: trace context travels from here on

const tracer = trace.getTracer("otel-example");
await tracer.startActiveSpan("example", async (span) => {
  for (const word of ["alpha", "beta", "gamma"]) {
    console.log(text.decode(await client.call(1, word)));
  }
  const failed = await client.submit(2, { payload: "nobody serves this" });
  console.log("rq_type 2:", failed.ok ? "ok" : text.decode(failed.payload));
  span.end();
});
await client.close();
