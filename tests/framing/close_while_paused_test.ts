/**
 * tinyproto's close() waits for the peer's end: it reads it even when the application had
 * paused reading (it waited for the whole close timeout, then failed).
 */
import { assertEquals } from "@std/assert";
import { TinyprotoProtocol } from "@plexus/net/framing";
import { createMemoryTransportPair } from "@plexus/net/transport";

Deno.test("tinyproto close() while the application paused reading ends in order", async () => {
  const a = new TinyprotoProtocol({}, { closeTimeout: 2000 });
  const b = new TinyprotoProtocol({});
  createMemoryTransportPair(a, b);
  await a.send(new Uint8Array([1]));
  await b.receive();
  a.transport!.pauseReading();
  a.close();
  assertEquals(await b.closed, undefined);
  assertEquals(await a.closed, undefined);
});
