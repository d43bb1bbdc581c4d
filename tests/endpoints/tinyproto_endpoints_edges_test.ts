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

Deno.test("TinyprotoClient: a connectionStarted that throws rejects connectTo() with its error", async () => {
  await using server = new TinyprotoServer(() => ({}));
  const [address] = await server.listen("127.0.0.1:0");
  await using client = new TinyprotoClient(() => ({
    connectionStarted() {
      throw new Error("boom started");
    },
  }));
  await assertRejects(() => client.connectTo(address), Error, "boom started");
  assertEquals(client.activeConnections.size, 0);
});

Deno.test("TinyprotoClient: a connectTo() begun while close() runs does not outlive it", async () => {
  await using server = new TinyprotoServer(() => ({}));
  const [address] = await server.listen("127.0.0.1:0");
  const client = new TinyprotoClient();
  await client.connectTo(address); // so close() has a connection to wait for
  const closing = client.close();
  const late = client.connectTo(address).then((c) => c, (e: Error) => e);
  await closing;
  const result = await late;
  const alive = client.activeConnections.size;
  if (!(result instanceof Error)) {
    result.close();
    await result.closed;
  }
  assertEquals(alive, 0);
});
