import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair, DeadlineError } from "@plexus/net/transport";
import { connectedPair, gate, text } from "./_helpers.ts";

const SLOW = 1;
const FAST = 2;

Deno.test("a request past requestTimeout is answered with a failure naming the limit, and the connection serves on", async () => {
  const reasons: unknown[] = [];
  const [server, client] = connectedPair({
    requestTimeout: 100,
    requestHandler: (rqType, _flags, payload, { signal }) => {
      if (rqType === FAST) return payload;
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => {
          reasons.push(signal.reason);
          reject(signal.reason);
        })
      );
    },
  });
  const response = await client.submit(SLOW);
  assertEquals(response.ok, false);
  assertEquals(
    text(response.payload),
    "Request not answered 100 ms after it arrived (requestTimeout)",
  );
  assertEquals(reasons.length, 1);
  assertInstanceOf(reasons[0], DeadlineError);
  assertEquals((reasons[0] as DeadlineError).limit, "requestTimeout");
  assertEquals(text(await client.call(FAST, "still here")), "still here");
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("requestTimeout: a queued request is answered and never runs; a late result is dropped", async () => {
  const release = gate();
  let runs = 0;
  const [server, client] = connectedPair({
    requestTimeout: 100,
    maxConcurrentHandlers: 1,
    requestHandler: async (rqType, _flags, payload) => {
      if (rqType === FAST) return payload;
      runs++;
      await release.promise; // ignores its signal
      return "late";
    },
  });
  const [running, queued] = await Promise.all([client.submit(SLOW), client.submit(SLOW)]);
  assertEquals([running.ok, queued.ok], [false, false]);
  assertEquals(
    text(queued.payload),
    "Request not answered 100 ms after it arrived (requestTimeout)",
  );
  assertEquals(runs, 1, "the queued request never ran");
  release.resolve(); // the running handler settles: its result is dropped, its slot freed
  assertEquals(text(await client.call(FAST, "next")), "next");
  assertEquals(client.inFlight, 0);
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("requestTimeout defaults to the transport's deadlines", async () => {
  const server = new PacketConnection({
    requestHandler: (_t, _f, _p, { signal }) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
  });
  const client = new PacketConnection();
  createMemoryTransportPair(server, client, { transport: { deadlines: { requestTimeout: 80 } } });
  const response = await client.submit(SLOW);
  assertEquals(
    text(response.payload),
    "Request not answered 80 ms after it arrived (requestTimeout)",
  );
  await client.close();
  await server.closed;
});

Deno.test("requestTimeout is checked, naming the value", () => {
  for (const bad of [0, -5, NaN, 2 ** 31]) {
    assertThrows(
      () => new PacketConnection({ requestTimeout: bad }),
      RangeError,
      `requestTimeout must be a number of milliseconds from 1 to 2147483647 (or Infinity for none), got ${bad}`,
    );
  }
  new PacketConnection({ requestTimeout: Infinity }).abort();
});
