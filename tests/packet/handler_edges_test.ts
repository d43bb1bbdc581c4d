/** Packet handlers whose results cannot be read, and the order of requests let in from the wait. */

import { assertEquals } from "@std/assert";
import { Packet } from "@plexus/net/packet";
import { gate, text, withRawPeer } from "./_helpers.ts";

/** A handler result whose `then` cannot be read (a getter that throws). */
const badResult = () =>
  ({
    get then(): unknown {
      throw new Error("bad then getter");
    },
  }) as unknown as Promise<string>;

const show = (packets: Packet[]) => packets.map((p) => `${p.tag} ${p.ok} ${text(p.payload)}`);

Deno.test("a result whose then getter throws fails its request only (handler started at once)", async () => {
  const errors: unknown[] = [];
  const { connection, peer } = withRawPeer({
    onHandlerError: (error) => errors.push(error),
    requestHandler: (rqType) => rqType === 0 ? "ok" : badResult(),
  });
  peer.send(Packet.request(2, 1), Packet.request(3, 0));
  await peer.until(() => peer.eof || peer.lost || peer.packets.length >= 2);
  assertEquals(show(peer.packets), ["2 false exception during handler", "3 true ok"]);
  assertEquals(errors.length, 1);
  connection.abort();
  assertEquals(await connection.closed, undefined);
});

Deno.test("a result whose then getter throws fails its request only (handler started from the queue)", async () => {
  const first = gate<string>();
  const { connection, peer } = withRawPeer({
    maxConcurrentHandlers: 1,
    onHandlerError: () => {},
    requestHandler: (rqType) => rqType === 0 ? first.promise : badResult(),
  });
  peer.send(Packet.request(2, 0), Packet.request(3, 1));
  first.resolve("x");
  await peer.response(3);
  assertEquals(show(peer.packets), ["2 true x", "3 false exception during handler"]);
  connection.abort();
  assertEquals(await connection.closed, undefined);
});

Deno.test("a handler that rejects with a revoked Proxy fails its request only", async () => {
  const errors: unknown[] = [];
  const { connection, peer } = withRawPeer({
    onHandlerError: (error) => errors.push(error),
    requestHandler: () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return Promise.reject(proxy);
    },
  });
  peer.send(Packet.request(2, 0));
  await peer.response(2);
  assertEquals(show(peer.packets), ["2 false exception during handler"]);
  assertEquals(errors.length, 1);
  connection.abort();
  assertEquals(await connection.closed, undefined);
});

Deno.test("a waiter let in is not overtaken by a request made before it has sent", async () => {
  const { connection, peer } = withRawPeer({
    maxInFlight: 2,
    // A request from the peer, handled in the same read as the two answers, makes a call.
    requestHandler: (_t, _f, _p, { connection }) => {
      connection.call(0, "B").catch(() => {});
    },
  });
  const r0 = connection.call(0, "R0");
  const r1 = connection.call(0, "R1");
  const a = connection.call(0, "A").catch(() => {}); // waits for room
  await peer.untilPackets(2);
  // One read: both answers (the first lets A in, the second frees a slot), then a request.
  peer.send(Packet.response(2, true), Packet.response(3, true), Packet.request(2, 0));
  await Promise.all([r0, r1]);
  await peer.until(() => peer.packets.filter((p) => p.isRequest).length >= 4);
  const sent = peer.packets.filter((p) => p.isRequest).map((p) => text(p.payload));
  connection.abort();
  await a;
  await connection.closed;
  assertEquals(sent, ["R0", "R1", "A", "B"]);
});
