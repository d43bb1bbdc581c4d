/**
 * close() waits for the peer's answers and EOF: it reads them even when the application had
 * paused reading (it waited for the whole close timeout, then failed).
 */
import { assertEquals } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";

Deno.test("packet close() while the application paused reading ends in order", async () => {
  const a = new PacketConnection({ closeTimeout: 2000 });
  const b = new PacketConnection({ requestHandler: () => "x" });
  createMemoryTransportPair(a, b);
  await a.call(1);
  a.transport!.pauseReading();
  await a.close();
  assertEquals(await b.closed, undefined);
  assertEquals(await a.closed, undefined);
});
