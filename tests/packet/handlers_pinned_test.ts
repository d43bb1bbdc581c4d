/**
 * Pins of the request handlers and the connection's accounting that no other test holds:
 * the peer's cancel of a running request versus a queued one, a throwing `decode`, and which
 * requests the counters leave out (the connection's own extension requests).
 */

import { assertEquals, assertRejects } from "@std/assert";
import { EXTENSION_RQ_TYPE, Packet } from "@plexus/net/packet";
import { bytes, connectedPair, text, withRawPeer } from "./_helpers.ts";

const OFFER = bytes("plexus-ext/1?");
const ACCEPT = bytes("plexus-ext/1!");

Deno.test("the peer's cancel of a running request aborts it only; of a queued one, refuses it", async () => {
  const { connection, peer } = withRawPeer({
    extensions: true,
    maxConcurrentHandlers: 1,
    requestHandler: (_t, _f, payload, { signal }) => {
      if (text(payload) !== "slow") return "quick";
      return new Promise((resolve) =>
        signal.addEventListener("abort", () => resolve("finished anyway"))
      );
    },
  });
  peer.send(Packet.request(2, EXTENSION_RQ_TYPE, { payload: OFFER }));
  assertEquals(await peer.response(2), Packet.response(2, true, { payload: ACCEPT }));
  // Tag 3 runs, tag 4 waits behind it; the queued one is cancelled first (flags 1: cancel,
  // payload: BSUInt channel 0, BSUInt tag), then the running one.
  peer.send(
    Packet.request(3, 0, { payload: bytes("slow") }),
    Packet.request(4, 0, { payload: bytes("queued") }),
    Packet.request(5, EXTENSION_RQ_TYPE, { flags: 1, payload: new Uint8Array([0, 4]) }),
  );
  assertEquals(
    await peer.response(4),
    Packet.response(4, false, { payload: bytes("request cancelled") }),
  );
  assertEquals(connection.stats().refused, 1);
  peer.send(Packet.request(6, EXTENSION_RQ_TYPE, { flags: 1, payload: new Uint8Array([0, 3]) }));
  // The running handler's own answer is the one response to tag 3.
  assertEquals(
    await peer.response(3),
    Packet.response(3, true, { payload: bytes("finished anyway") }),
  );
  peer.send(Packet.request(7, 0, { payload: bytes("after") }));
  assertEquals(await peer.response(7), Packet.response(7, true, { payload: bytes("quick") }));
  assertEquals(peer.packets.filter((p) => !p.isRequest && p.tag === 3).length, 1);
  const stats = connection.stats();
  assertEquals([stats.refused, stats.requestsServed], [1, 2]);
  connection.abort();
  await connection.closed;
});

Deno.test("a decode that throws rejects just that request; the connection goes on", async () => {
  const [server, client] = connectedPair({ requestHandler: (_t, _f, payload) => payload });
  const fail = (): never => {
    throw new Error("bad answer");
  };
  await assertRejects(
    () => client.call(0, "x", { decode: fail }),
    Error,
    "bad answer",
  );
  await assertRejects(
    () => client.submit(0, { payload: "y", decode: fail }),
    Error,
    "bad answer",
  );
  assertEquals(text(await client.call(0, "z")), "z");
  await client.close();
  assertEquals(await server.closed, undefined);
});

Deno.test("the connection's own extension requests are not counted as sent or lost", async () => {
  const [server, client] = connectedPair({ extensions: true }, { extensions: true });
  assertEquals(await client.extensions, true);
  assertEquals(client.stats().requestsSent, 0);
  // An offer that is never answered is not lost when the connection ends.
  const { connection, peer } = withRawPeer({ extensions: true });
  await peer.untilPackets(1);
  connection.abort();
  await connection.closed;
  const stats = connection.stats();
  assertEquals([stats.requestsSent, stats.lost], [0, 0]);
  await client.close();
  await server.closed;
});
