/**
 * A connection lost under a running handler (a read error, a reset): code that the handler's
 * abort signal runs synchronously may try to make a request. It must be refused, not sent into
 * the dead connection and left pending forever.
 */

import { assertEquals, assertRejects } from "@std/assert";
import { ConnectionClosedError, Packet, PacketConnection } from "@plexus/net/packet";
import { encode, gate } from "./_helpers.ts";

Deno.test("a request made from a handler's abort listener when the stream fails rejects", async () => {
  let fail!: (error: Error) => void;
  const started = gate();
  const made: Promise<unknown>[] = [];
  const connection = PacketConnection.fromStreams({
    readable: new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(encode(Packet.request(2, 0)));
        fail = (error) => controller.error(error);
      },
    }),
    writable: new WritableStream<Uint8Array>(),
  }, {
    requestHandler: (_rqType, _flags, _payload, { signal, connection }) => {
      signal.addEventListener("abort", () => {
        made.push(connection.call(7)); // fast path: a slot is free
        const { signal: never } = new AbortController();
        made.push(connection.call(7, undefined, { signal: never })); // the slow path
      });
      started.resolve();
      return new Promise(() => {}); // runs until the connection ends
    },
  });
  await started.promise;
  fail(new Error("cable cut"));
  await connection.closed;
  assertEquals(made.length, 2);
  const settled = made.map(() => false);
  made.forEach((call, i) => call.catch(() => {}).finally(() => settled[i] = true));
  await new Promise((resolve) => setTimeout(resolve, 0)); // every settled promise has run
  assertEquals(settled, [true, true], "requests left pending after the connection ended");
  for (const call of made) await assertRejects(() => call, ConnectionClosedError);
  assertEquals(connection.inFlight, 0);
});
