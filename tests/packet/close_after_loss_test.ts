import { assertEquals } from "@std/assert";
import { ConnectionClosedError, PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair, type Transport } from "@plexus/net/transport";
import { assertInstanceOf } from "../_assert.ts";

Deno.test("close() after the connection failed keeps the failure in closed", async () => {
  const client = new PacketConnection();
  let peer: Transport | undefined;
  // A peer that ends its stream without the EOF packet: the client's connection is lost.
  createMemoryTransportPair(client, {
    connectionMade: (t) => peer = t,
    dataReceived() {},
    eofReceived: () => true,
  });
  const pending = client.call(1).catch((error) => error);
  peer!.writeEof();
  assertInstanceOf(await pending, ConnectionClosedError);
  await client.close(); // the usual clean-up after a failed call
  const error = await client.closed;
  assertInstanceOf(error, ConnectionClosedError);
  assertEquals(error.message, "Connection lost: the stream ended without an EOF packet");
  peer!.close();
  await peer!.closed;
});
