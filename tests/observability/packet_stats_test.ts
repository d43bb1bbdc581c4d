import { assert, assertEquals, assertRejects } from "@std/assert";
import { createConnection, createServer } from "@plexus/net/endpoints";
import {
  ConnectionClosedError,
  PacketConnection,
  type PacketStats,
  RemoteError,
} from "@plexus/net/packet";
import type { TransportStats } from "@plexus/net/transport";
import { text } from "../_shared.ts";

/** The counters of a snapshot, without the latency and transport parts. */
function counters(stats: PacketStats): Omit<PacketStats, "latency" | "transport"> {
  const { latency: _l, transport: _t, ...rest } = stats;
  return rest;
}

const ZERO = {
  requestsSent: 0,
  inFlight: 0,
  responses: 0,
  notOk: 0,
  cancelled: 0,
  timedOut: 0,
  lost: 0,
  requestsReceived: 0,
  requestsServed: 0,
  failed: 0,
  refused: 0,
};

/**
 * A server over TCP whose handler answers by rq_type: 0 echoes, 1 throws, 2 waits for `release`,
 * 3 refuses on purpose (RemoteError), 4 answers after `slowMs`.
 */
async function serve(slowMs: number) {
  const release = Promise.withResolvers<void>();
  const connections: PacketConnection[] = [];
  const server = await createServer(() => {
    const connection = new PacketConnection({
      name: "server",
      onHandlerError: () => {},
      requestHandler: async (rqType, _flags, payload) => {
        if (rqType === 0) return payload;
        if (rqType === 1) throw new Error("handler bug");
        if (rqType === 2) {
          await release.promise;
          return "late";
        }
        if (rqType === 3) throw new RemoteError(7, "no");
        await new Promise((resolve) => setTimeout(resolve, slowMs));
        return "slow";
      },
    });
    connections.push(connection);
    return connection;
  }, "127.0.0.1:0");
  return { server, connections, release: () => release.resolve() };
}

Deno.test("packet stats count our requests and the peer's as they were sent, served, failed, cancelled and timed out", async () => {
  const { server, connections, release } = await serve(1);
  await using _ = server;
  const { protocol: client } = await createConnection(
    () => new PacketConnection({ name: "client" }),
    server.addresses[0],
  );
  assertEquals(counters(client.stats()), ZERO);

  for (let i = 0; i < 5; i++) assertEquals(text(await client.call(0, `ping ${i}`)), `ping ${i}`);
  for (let i = 0; i < 2; i++) {
    const failed = await client.submit(1);
    assertEquals([failed.ok, text(failed.payload)], [false, "exception during handler"]);
  }
  assertEquals((await client.submit(3)).ok, false);

  // Two cancelled by their signal once sent, one before it could be sent, one timed out.
  const stop = new AbortController();
  const cancelled = [
    client.submit(2, { signal: stop.signal }),
    client.submit(2, { signal: stop.signal }),
  ];
  await client.call(0); // both have reached the server by now
  stop.abort(new Error("user gave up"));
  for (const request of cancelled) await assertRejects(() => request, Error, "user gave up");
  await assertRejects(() => client.submit(2, { signal: AbortSignal.abort() }));
  await assertRejects(() => client.submit(2, { timeout: 5 }), DOMException, "timed out after 5 ms");

  const server1 = connections[0];
  assertEquals(counters(client.stats()), {
    ...ZERO,
    requestsSent: 5 + 2 + 1 + 2 + 1 + 1, // the cancelled-before-sending one never went out
    inFlight: 3, // the peer still works on the cancelled and the timed-out requests
    responses: 5 + 2 + 1 + 1,
    notOk: 3,
    cancelled: 3,
    timedOut: 1,
  });
  assertEquals(counters(server1.stats()), {
    ...ZERO,
    inFlight: 0,
    requestsReceived: 12,
    requestsServed: 5 + 1 + 1, // echoes, the RemoteError, the extra call(0)
    failed: 2,
  });
  assertEquals(client.stats().latency.count, 9);

  // The late answers free the slots; they are not counted as responses.
  release();
  await client.call(0); // answered after the late responses (one connection, in order)
  const after = client.stats();
  assertEquals([after.inFlight, after.responses, after.requestsSent], [0, 10, 13]);
  assertEquals(server1.stats().requestsServed, 8 + 3);

  // The transport part is the transport's own snapshot.
  const own = (client.transport as unknown as { stats(): TransportStats }).stats();
  assertEquals(after.transport?.bytesSent, own.bytesSent);
  assertEquals(after.transport?.bytesReceived, own.bytesReceived);
  assert(own.bytesSent > 0 && own.bytesReceived > 0);
  await client.close();
  assertEquals(counters(client.stats()).lost, 0);
});

Deno.test("packet stats count refusals on the refusing side and not-ok answers on ours", async () => {
  let refusing: PacketConnection | undefined;
  await using server = await createServer(
    () => refusing = new PacketConnection(), // no request handler: refuses everything
    "127.0.0.1:0",
  );
  const { protocol: client } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  for (let i = 0; i < 3; i++) {
    const response = await client.submit(i, { payload: "x" });
    assertEquals(text(response.payload), "no request handler");
  }
  client.endRequests();
  await client.close();
  await refusing!.closed;
  assertEquals(counters(client.stats()), { ...ZERO, requestsSent: 3, responses: 3, notOk: 3 });
  assertEquals(counters(refusing!.stats()), { ...ZERO, requestsReceived: 3, refused: 3 });
});

Deno.test("packet stats count requests lost when the connection ends unanswered", async () => {
  const { server, release } = await serve(1);
  await using _ = server;
  const { protocol: client } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  const pending = [client.call(2), client.call(2)];
  await client.call(0);
  client.abort();
  for (const request of pending) await assertRejects(() => request, ConnectionClosedError);
  release();
  assertEquals(counters(client.stats()), {
    ...ZERO,
    requestsSent: 3,
    responses: 1,
    lost: 2,
  });
});

Deno.test("packet latency summary brackets what the requests took", async () => {
  const slowMs = 40;
  const { server } = await serve(slowMs);
  await using _ = server;
  const { protocol: client } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  const fast: number[] = [];
  for (let i = 0; i < 16; i++) {
    const t0 = performance.now();
    await client.call(0, "x");
    fast.push(performance.now() - t0);
  }
  const started = performance.now();
  await Promise.all([client.call(4), client.call(4), client.call(4), client.call(4)]);
  const slowWall = performance.now() - started;
  const { latency } = client.stats();
  assertEquals(latency.count, 20);
  // p50 is one of the fast requests: within the histogram's 12.5 % of the slowest of them.
  fast.sort((a, b) => a - b);
  assert(latency.p50 <= fast[15] * 1.125 + 0.001, `p50 ${latency.p50}, fast ${fast}`);
  assert(latency.p50 < slowMs);
  // p90 and up are the slow ones (the top 4 of 20): at least the handler's delay each.
  assert(latency.p90 >= slowMs, `p90 ${latency.p90}`);
  assert(latency.p99 >= latency.p90 && latency.max >= latency.p99);
  assert(latency.max <= slowWall, `max ${latency.max} > ${slowWall}`);
  const total = fast.reduce((a, b) => a + b, 0);
  assert(latency.mean * 20 <= total + 4 * slowWall && latency.mean * 20 >= 4 * slowMs);
  await client.close();
});

Deno.test("under load one request in 16 is timed, so timing stays off the profile", async () => {
  const { server } = await serve(1);
  await using _ = server;
  const { protocol: client } = await createConnection(
    () => new PacketConnection(),
    server.addresses[0],
  );
  // 256 at once: the first 16 (at most 16 in flight) are timed, then every 16th sent.
  await Promise.all(Array.from({ length: 256 }, () => client.call(0, "x")));
  const stats = client.stats();
  assertEquals([stats.requestsSent, stats.responses], [256, 256]);
  assertEquals(stats.latency.count, 16 + 15);
  await client.close();
});
