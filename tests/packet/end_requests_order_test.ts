/** endRequests(): the requests submitted before it go out (and are answered) before ERQ. */

import { assertEquals } from "@std/assert";
import { Packet, PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { text, withRawPeer } from "./_helpers.ts";

Deno.test("requests submitted before endRequests() are all sent and answered (more than maxInFlight)", async () => {
  const server = new PacketConnection({ requestHandler: (_t, _f, p) => p });
  const client = new PacketConnection({ maxInFlight: 2 });
  createMemoryTransportPair(server, client);
  const calls = ["a", "b", "c", "d", "e"].map((s) =>
    client.call(0, s).then(text, (e: Error) => `rejected: ${e.message}`)
  );
  client.endRequests(); // "Later submit()s reject": these five came before it
  const late = await client.call(0, "late").then(text, (e: Error) => `rejected: ${e.message}`);
  const results = await Promise.all(calls);
  await client.close();
  assertEquals(await server.closed, undefined);
  assertEquals(results, ["a", "b", "c", "d", "e"]);
  assertEquals(late, "rejected: Cannot submit request: endRequests() was called");
});

Deno.test("a request submitted before the transport connects survives endRequests()", async () => {
  const client = new PacketConnection();
  const early = client.call(0, "early").then(text, (e: Error) => `rejected: ${e.message}`);
  client.endRequests();
  const server = new PacketConnection({ requestHandler: (_t, _f, p) => p });
  createMemoryTransportPair(server, client);
  const result = await early;
  await client.close();
  assertEquals(await server.closed, undefined);
  assertEquals(result, "early");
});

Deno.test("ERQ goes out after the requests submitted before endRequests(), on the wire", async () => {
  const { connection, peer } = withRawPeer({ maxInFlight: 1 });
  const first = connection.call(0, "1");
  const second = connection.call(0, "2"); // waits for room
  connection.endRequests();
  await peer.untilPackets(1);
  peer.send(Packet.response(2, true));
  await first;
  await peer.until(() => peer.packets.length >= 3);
  const wire = peer.packets.map((p) =>
    p.isErq() ? "erq" : p.isRequest ? `rq ${text(p.payload)}` : "other"
  );
  assertEquals(wire.slice(0, 3), ["rq 1", "rq 2", "erq"]);
  connection.abort();
  await second.catch(() => {});
  await connection.closed;
});
