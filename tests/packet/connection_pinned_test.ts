/**
 * Pins of PacketConnection's lifecycle that no other test holds: ERQ owed from before the
 * connection, refusals while closing, an end of stream after our own EOF, no cancel after our
 * EOF, and a waiter that fails after being let in passing its turn on.
 */

import { assertEquals, assertRejects } from "@std/assert";
import {
  EXTENSION_RQ_TYPE,
  Packet,
  PacketConnection,
  PacketTooLongError,
} from "@plexus/net/packet";
import { createMemoryTransportPair } from "@plexus/net/transport";
import { bytes, connectedPair, gate, RawPeer, text, withRawPeer } from "./_helpers.ts";

Deno.test("endRequests() before the transport comes sends ERQ once connected", async () => {
  const connection = new PacketConnection();
  connection.endRequests();
  const peer = new RawPeer();
  createMemoryTransportPair(connection, peer);
  assertEquals((await peer.untilPackets(1))[0], Packet.ERQ);
  connection.abort();
  await connection.closed;
});

Deno.test("no packet follows our EOF: a request that crossed it is not answered", async () => {
  const { connection, peer } = withRawPeer({ requestHandler: () => "served" });
  await peer.until(() => peer.transport !== undefined);
  const closing = connection.close();
  await peer.until(() => peer.packets.some((p) => p.isEof()));
  peer.send(Packet.request(2, 0)); // crossed our EOF
  peer.send(Packet.EOF);
  await closing;
  assertEquals(await connection.closed, undefined);
  const eofAt = peer.packets.findIndex((p) => p.isEof());
  assertEquals(peer.packets.slice(eofAt + 1).map(String), []);
});

Deno.test("no packet follows our EOF: a ping from the peer after it is not answered", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  await peer.until(() => peer.packets.length >= 1);
  const offer = peer.packets[0];
  peer.send(Packet.request(2, EXTENSION_RQ_TYPE, { flags: 0, payload: bytes("plexus-ext/1?") }));
  peer.send(Packet.response(offer.tag, true, { payload: bytes("plexus-ext/1!") }));
  assertEquals(await connection.extensions, true);
  const closing = connection.close();
  await peer.until(() => peer.packets.some((p) => p.isEof()));
  peer.send(Packet.request(3, EXTENSION_RQ_TYPE, { flags: 2 })); // a ping
  peer.send(Packet.EOF);
  await closing;
  const eofAt = peer.packets.findIndex((p) => p.isEof());
  assertEquals(peer.packets.slice(eofAt + 1).map(String), []);
});

Deno.test("the stream ending after our EOF, without the peer's, is an orderly close", async () => {
  const { connection, peer } = withRawPeer();
  await peer.until(() => peer.transport !== undefined);
  const closing = connection.close();
  await peer.until(() => peer.packets.some((p) => p.isEof()));
  peer.transport.close(); // no EOF packet: the stream just ends
  await closing;
  assertEquals(await connection.closed, undefined);
});

Deno.test("a request cancelled after our EOF sends no cancel to the peer", async () => {
  const { connection, peer } = withRawPeer({ extensions: true });
  await peer.untilPackets(1); // the offer
  peer.send(Packet.response(peer.packets[0].tag, true, { payload: bytes("plexus-ext/1!") }));
  assertEquals(await connection.extensions, true);
  const stop = new AbortController();
  const call = connection.call(0, "x", { signal: stop.signal });
  const closing = connection.close();
  await peer.until(() => peer.packets.some((p) => p.isEof()));
  stop.abort(new Error("not needed"));
  await assertRejects(() => call, Error, "not needed");
  peer.send(Packet.EOF);
  await closing;
  await peer.until(() => peer.eof || peer.lost);
  const eof = peer.packets.findIndex((p) => p.isEof());
  assertEquals(peer.packets.slice(eof + 1), [], "nothing after EOF");
  assertEquals(peer.packets.filter((p) => p.userRqType === EXTENSION_RQ_TYPE).length, 1);
});

Deno.test("a waiter let in whose request fails to encode lets the next one in", async () => {
  const release = gate();
  const [server, client] = connectedPair(
    { requestHandler: async (_t, _f, payload) => (await release.promise, payload) },
    { maxInFlight: 1, maxPacketSize: 64 },
  );
  const first = client.call(0, "first");
  const tooLong = client.call(0, new Uint8Array(100)); // waits for the slot, then cannot encode
  const next = client.call(0, "next");
  release.resolve();
  await assertRejects(() => tooLong, PacketTooLongError);
  assertEquals(client.inFlight, 1, "the next waiter holds the slot");
  assertEquals(text(await first), "first");
  assertEquals(text(await next), "next");
  await client.close();
  await server.closed;
});
