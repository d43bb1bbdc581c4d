/**
 * A request handler may return any thenable (`isPromiseLike`), not only a native promise:
 * whatever the thenable does, its request is answered once, and nothing escapes as an
 * unhandled rejection (which would end the process).
 */

import { assertEquals } from "@std/assert";
import { Packet } from "@plexus/net/packet";
import { gate, text, withRawPeer } from "./_helpers.ts";

function describe(packets: Packet[]): string[] {
  return packets.map((p) => `${p.tag} ${p.ok} ${text(p.payload)}`);
}

Deno.test("a thenable that calls back twice answers its request once", async () => {
  const errors: unknown[] = [];
  const { connection, peer } = withRawPeer({
    maxConcurrentHandlers: 1,
    onHandlerError: (error) => errors.push(error),
    requestHandler: () =>
      ({
        then(resolve: (value: string) => void, reject: (error: unknown) => void) {
          resolve("a");
          resolve("b");
          reject(new Error("late"));
        },
      }) as unknown as Promise<string>,
  });
  peer.send(Packet.request(2, 0), Packet.request(3, 0));
  await peer.untilPackets(2);
  // A marker request answered after both: anything sent twice would come before it.
  peer.send(Packet.request(4, 0));
  await peer.response(4);
  assertEquals(describe(peer.packets), ["2 true a", "3 true a", "4 true a"]);
  assertEquals(errors, []);
  assertEquals(connection.stats().requestsServed, 3);
  connection.abort();
  await connection.closed;
});

Deno.test("a thenable whose then() throws fails its request, also when started from the queue", async () => {
  const first = gate<string>();
  const errors: unknown[] = [];
  const { connection, peer } = withRawPeer({
    maxConcurrentHandlers: 1,
    onHandlerError: (error) => errors.push(error),
    requestHandler: (rqType) =>
      rqType === 0 ? first.promise : ({
        then() {
          throw new Error("bad thenable");
        },
      }) as unknown as Promise<string>,
  });
  peer.send(Packet.request(2, 0), Packet.request(3, 1));
  first.resolve("x"); // the second request starts when the first finishes
  await peer.response(3);
  assertEquals(describe(peer.packets), ["2 true x", "3 false exception during handler"]);
  assertEquals(errors.map((e) => (e as Error).message), ["bad thenable"]);
  connection.abort();
  assertEquals(await connection.closed, undefined);
});
