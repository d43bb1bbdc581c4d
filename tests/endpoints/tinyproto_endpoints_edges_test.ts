/** Tinyproto and plain clients: options checked where given; close() during a connect. */

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { assert } from "../_assert.ts";
import { Client, createServer, TinyprotoClient, TinyprotoServer } from "@plexus/net/endpoints";
import { ProtocolAdapter } from "@plexus/net/protocol";
import { TransportError } from "@plexus/net/transport";

Deno.test("TinyprotoServer and TinyprotoClient refuse bad options in their constructors", () => {
  assertThrows(() => new TinyprotoServer(() => ({}), { maxSize: -1 }), RangeError, "maxSize");
  assertThrows(
    () => new TinyprotoServer(() => ({}), { closeTimeout: -5 }),
    RangeError,
    "closeTimeout",
  );
  assertThrows(
    () => new TinyprotoServer(() => ({}), { connectionLimit: 1.5 }),
    RangeError,
    "connectionLimit",
  );
  assertThrows(() => new TinyprotoClient(undefined, { maxSize: 2 ** 40 }), RangeError, "maxSize");
});

Deno.test("Client: close() while connect() is under way aborts it: no connection outlives close()", async () => {
  await using server = await createServer(() => new ProtocolAdapter(), "127.0.0.1:0");
  const client = new Client(() => new ProtocolAdapter());
  const connecting = client.connect(server.addresses[0]);
  await client.close();
  await assertRejects(() => connecting, TransportError, "the client was closed");
  assertEquals(client.transport, undefined);
});

Deno.test("TinyprotoClient: close() while connectTo() is under way aborts it", async () => {
  await using server = new TinyprotoServer(() => ({}));
  const [address] = await server.listen("127.0.0.1:0");
  const client = new TinyprotoClient();
  const connecting = client.connectTo(address);
  await client.close();
  await assertRejects(() => connecting, TransportError, "the client was closed");
  assert(client.activeConnections.size === 0);
});
