/** close() does not wait for a handler whose request requestTimeout already answered. */

import { assertEquals } from "@std/assert";
import { PacketConnection } from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { gate } from "./_helpers.ts";

Deno.test("close() after a request expired whose handler ignores its signal is a clean close", async () => {
  const never = gate();
  const server = new PacketConnection({
    requestTimeout: 30,
    closeTimeout: 300,
    requestHandler: () => never.promise.then(() => "late"),
  });
  const client = new PacketConnection();
  createMemoryTransportPair(server, client);
  const response = await client.submit(0);
  assertEquals(response.ok, false, "answered by requestTimeout");
  await server.close();
  const why = await server.closed;
  never.resolve();
  await client.closed;
  assertEquals(why, undefined, "not: close() timed out");
});
