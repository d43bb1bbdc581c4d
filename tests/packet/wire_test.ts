/** What a connection puts on the wire, byte for byte, and how it treats a raw peer's packets. */

import { assertEquals, assertRejects } from "@std/assert";
import {
  ConnectionClosedError,
  Packet,
  PacketConnection,
  PacketError,
  PacketTooLongError,
} from "@plexus/net/packet";
import { assert, assertInstanceOf } from "../_assert.ts";
import { CountingChannel } from "../_counting_channel.ts";
import { concat } from "../_shared.ts";
import { createMemoryChannelPair, StreamTransport } from "@plexus/net/transport";
import { bytes, gate, hex, RawPeer, text, toHex, VECTORS, withRawPeer } from "./_helpers.ts";

const vector = (name: string): string => VECTORS.find((v) => v.name.startsWith(name))!.hex;

/** Answers every request the raw peer has seen so far with an empty ok response. */
function answerAll(peer: RawPeer, seen = new Set<Packet>()): void {
  for (const p of peer.packets) {
    if (p.isRequest && p.rqType !== 0 && !seen.has(p)) {
      seen.add(p);
      peer.send(Packet.response(p.tag, true, { channel: p.channel }));
    }
  }
}

Deno.test("requests go out byte for byte as the vectors, tags from 2 on channel 0", async () => {
  const cases: [string, (c: PacketConnection) => Promise<unknown>][] = [
    ["request ch0 tag2 flags0 user_rq_type0", (c) => c.submit(0)],
    ["request ch0 tag2 flags0x55", (c) => c.submit(1, { flags: 0x55, payload: hex("02 03") })],
    [
      "request ch0 tag2 wire_rq_type1 payload bytes",
      (c) => c.submit(0, { payload: Uint8Array.from({ length: 200 }, (_, i) => i) }),
    ],
  ];
  for (const [name, send] of cases) {
    const { connection, peer } = withRawPeer();
    const done = send(connection);
    await peer.untilPackets(1);
    assertEquals(toHex(concat(peer.chunks)), toHex(hex(vector(name))), name);
    peer.send(Packet.response(2, true));
    await done;
    connection.abort();
    await connection.closed;
  }
});

Deno.test("tags count up per channel and are never reused", async () => {
  const { connection, peer } = withRawPeer();
  const calls = [connection.submit(0), connection.submit(0), connection.submit(0)];
  await peer.untilPackets(3);
  assertEquals(peer.packets.map((p) => p.tag), [2, 3, 4]);
  peer.send(Packet.response(3, true), Packet.response(2, true), Packet.response(4, true));
  await Promise.all(calls);
  const next = connection.submit(0);
  await peer.untilPackets(4);
  assertEquals(peer.packets[3].tag, 5);
  peer.send(Packet.response(5, true));
  await next;
  connection.abort();
  await connection.closed;
});

Deno.test("responses go out byte for byte as the vectors", async () => {
  const results = new Map<number, () => unknown>([
    [0, () => [0x11, hex("03 02")]],
    [1, () => undefined],
    [2, () => {
      throw new Error("boom");
    }],
  ]);
  const cases: [number, number, string][] = [
    [0, 2, "ok response ch0 tag2 user_flags0x11"],
    [1, 2, "ok response ch0 tag2 user_flags0 payload empty"],
    [2, 3, "fail response ch0 tag3 exception during handler"],
  ];
  for (const [rqType, tag, name] of cases) {
    const { connection, peer } = withRawPeer({
      requestHandler: (t) => results.get(t)!() as undefined,
      onHandlerError: () => {},
    });
    peer.send(Packet.request(tag, rqType));
    await peer.untilPackets(1);
    assertEquals(toHex(concat(peer.chunks)), toHex(hex(vector(name))), name);
    connection.abort();
    await connection.closed;
  }
  const { connection, peer } = withRawPeer();
  peer.send(Packet.request(3, 0, { payload: bytes("anything") }));
  await peer.untilPackets(1);
  assertEquals(toHex(concat(peer.chunks)), toHex(hex(vector("fail response ch0 tag3 no request"))));
  connection.abort();
  await connection.closed;
});

Deno.test("close() sends ERQ then EOF, exactly the magic packets", async () => {
  const { connection, peer } = withRawPeer();
  const closing = connection.close();
  await peer.untilPackets(2);
  assertEquals(toHex(concat(peer.chunks)), toHex(hex(`${vector("ERQ")} ${vector("EOF")}`)));
  peer.send(Packet.ERQ, Packet.EOF);
  await closing;
  assertEquals(await connection.closed, undefined);
  assert(peer.lost || peer.eof);
});

Deno.test("a duplicate tag is refused while the first is served, and free again after", async () => {
  const release = gate();
  const { connection, peer } = withRawPeer({
    requestHandler: async (_t, _f, payload) => {
      if (text(payload) === "slow") await release.promise;
      return payload;
    },
  });
  peer.send(
    Packet.request(5, 0, { payload: bytes("slow") }),
    Packet.request(5, 0, { payload: bytes("dup") }),
  );
  await peer.untilPackets(1);
  assertEquals(
    peer.packets[0],
    Packet.response(5, false, { payload: bytes("channel 0: tag already in use: 5") }),
  );
  release.resolve();
  await peer.untilPackets(2);
  assertEquals(peer.packets[1], Packet.response(5, true, { payload: bytes("slow") }));
  peer.send(Packet.request(5, 0, { payload: bytes("again") }));
  await peer.untilPackets(3);
  assertEquals(peer.packets[2], Packet.response(5, true, { payload: bytes("again") }));
  connection.abort();
  await connection.closed;
});

Deno.test("a request on a channel other than 0 gets the original's 'unknown channel %d'", async () => {
  const { connection, peer } = withRawPeer({ requestHandler: () => "never" });
  peer.send(Packet.request(0, 0, { channel: 5 }));
  assertEquals(
    await peer.response(0, 5),
    Packet.response(0, false, { channel: 5, payload: bytes("unknown channel %d") }),
  );
  connection.abort();
  await connection.closed;
});

Deno.test("after the peer's ERQ its requests get 'requests no longer allowed'", async () => {
  const { connection, peer } = withRawPeer({ requestHandler: () => "served" });
  peer.send(Packet.request(2, 0), Packet.ERQ, Packet.request(3, 0));
  assertEquals(await peer.response(2), Packet.response(2, true, { payload: bytes("served") }));
  assertEquals(
    await peer.response(3),
    Packet.response(3, false, { payload: bytes("requests no longer allowed") }),
  );
  // Our own requests still go out and get answered after the peer's ERQ.
  const call = connection.call(0);
  await peer.until(() => peer.packets.some((p) => p.isRequest));
  answerAll(peer);
  await call;
  connection.abort();
  await connection.closed;
});

Deno.test("responses to unknown tags and late responses to cancelled requests are ignored", async () => {
  const { connection, peer } = withRawPeer();
  const stop = new AbortController();
  const cancelled = connection.submit(0, { signal: stop.signal });
  await peer.untilPackets(1);
  stop.abort(new Error("changed my mind"));
  await assertRejects(() => cancelled, Error, "changed my mind");
  assertEquals(connection.inFlight, 1, "the peer still works on it: the slot stays taken");
  peer.send(
    Packet.response(2, true),
    Packet.response(99, false),
    Packet.response(7, true, { channel: 3 }),
  );
  const next = connection.call(0);
  await peer.untilPackets(2);
  assertEquals(peer.packets[1].tag, 3, "tag 2 is not reused");
  assertEquals(connection.inFlight, 1, "the late response freed the slot");
  peer.send(Packet.response(3, true, { payload: bytes("right one") }));
  assertEquals(text(await next), "right one");
  assertEquals(connection.inFlight, 0);
  connection.abort();
  await connection.closed;
});

Deno.test("a timeout rejects with TimeoutError and the late answer is ignored", async () => {
  const { connection, peer } = withRawPeer();
  const call = connection.call(4, "", { timeout: 1 });
  const error = await assertRejects(
    () => call,
    DOMException,
    "Request rq_type 4 timed out after 1 ms",
  );
  assertEquals(error.name, "TimeoutError");
  await peer.untilPackets(1);
  peer.send(Packet.response(2, true));
  const after = connection.submit(0);
  await peer.untilPackets(2);
  peer.send(Packet.response(3, true));
  assertEquals((await after).ok, true);
  connection.abort();
  await connection.closed;
});

Deno.test("an already aborted signal rejects at once and sends nothing", async () => {
  const { connection, peer } = withRawPeer();
  const reason = new Error("before");
  await assertRejects(
    () => connection.submit(0, { signal: AbortSignal.abort(reason) }),
    Error,
    "before",
  );
  const closing = connection.close();
  await peer.untilPackets(2);
  assertEquals(peer.packets, [Packet.ERQ, Packet.EOF]);
  peer.send(Packet.EOF);
  await closing;
});

Deno.test("the peer's EOF rejects pending requests and the connection closes itself in order", async () => {
  const { connection, peer } = withRawPeer();
  const pending = [connection.call(0), connection.call(1, "x", { timeout: 60_000 })];
  await peer.untilPackets(2);
  peer.send(Packet.EOF);
  await assertRejects(
    () => pending[0],
    ConnectionClosedError,
    "Request rq_type 0 (channel 0, tag 2) failed: the peer sent EOF before answering",
  );
  await assertRejects(() => pending[1], ConnectionClosedError, "rq_type 1 (channel 0, tag 3)");
  await peer.untilPackets(4);
  assertEquals(peer.packets.slice(2), [Packet.ERQ, Packet.EOF]);
  assertEquals(await connection.closed, undefined);
  await assertRejects(() => connection.call(0), ConnectionClosedError);
});

Deno.test("end of stream without EOF rejects everything; closed names it", async () => {
  const { connection, peer, transports } = withRawPeer();
  const pending = connection.call(0);
  await peer.untilPackets(1);
  transports[1].close();
  const error = await assertRejects(() => pending, ConnectionClosedError);
  assertInstanceOf(error.cause, ConnectionClosedError);
  const closed = await connection.closed;
  assertInstanceOf(closed, ConnectionClosedError);
  assertEquals(closed.message, "Connection lost: the stream ended without an EOF packet");
});

Deno.test("a request with the reserved rq_type 0 is malformed: the connection ends with PacketError", async () => {
  const { connection, peer } = withRawPeer();
  const pending = connection.call(0);
  await peer.untilPackets(1);
  peer.send(new Packet({ tag: 5, isRequest: true, rqType: 0 }));
  const error = await assertRejects(() => pending, ConnectionClosedError);
  assertInstanceOf(error.cause, PacketError);
  const closed = await connection.closed;
  assertInstanceOf(closed, PacketError);
  assertEquals(
    closed.message,
    "Cannot handle packet: request tag 5 on channel 0 uses the reserved rq_type 0 but is not the EOF or ERQ packet",
  );
  // An EOF-like packet with a payload is malformed too, as in the original.
  const second = withRawPeer();
  second.peer.send(new Packet({ tag: 0, isRequest: true, payload: bytes("x") }));
  assertInstanceOf(await second.connection.closed, PacketError);
});

Deno.test("a packet over maxPacketSize from the peer ends the connection before allocation", async () => {
  const { connection, peer } = withRawPeer({ maxPacketSize: 1000 });
  peer.send(hex("89 c4 da 00")); // announces 20000000 bytes
  const closed = await connection.closed;
  assertInstanceOf(closed, PacketTooLongError);
  assertEquals(
    closed.message,
    "Cannot decode packet: length 20000000 exceeds maxPacketSize 1000 " +
      "(the packet body: tag, flags, channel and rq_type fields plus the payload)",
  );
});

Deno.test("garbage bytes end the connection with a typed error", async () => {
  const { connection, peer } = withRawPeer();
  peer.send(hex("ff ff ff ff ff ff ff ff ff"));
  assertInstanceOf(await connection.closed, PacketError);
});

Deno.test("sending a request over maxPacketSize rejects, and sends nothing", async () => {
  const { connection, peer } = withRawPeer({ maxPacketSize: 100 });
  await assertRejects(
    () => connection.submit(0, { payload: new Uint8Array(100) }),
    PacketTooLongError,
    "Cannot encode packet: length 103 exceeds maxPacketSize 100",
  );
  assertEquals(connection.inFlight, 0);
  const closing = connection.close();
  await peer.untilPackets(2);
  assertEquals(peer.packets, [Packet.ERQ, Packet.EOF]);
  peer.send(Packet.EOF);
  await closing;
});

Deno.test("abort() rejects pending requests at once and cancels running handlers", async () => {
  const started = gate();
  const aborted = gate<unknown>();
  const { connection, peer } = withRawPeer({
    requestHandler: (_t, _f, _p, { signal }) => {
      started.resolve();
      signal.addEventListener("abort", () => aborted.resolve(signal.reason));
      return new Promise(() => {});
    },
  });
  const pending = connection.call(0);
  peer.send(Packet.request(2, 0));
  await started.promise;
  await peer.untilPackets(1);
  connection.abort();
  await assertRejects(() => pending, ConnectionClosedError, "the connection was closed");
  assertInstanceOf(await aborted.promise, DOMException);
  assertEquals(await connection.closed, undefined);
  await peer.until(() => peer.eof);
  assertEquals(peer.packets.length, 1, "no response, no EOF after abort");
});

Deno.test("close() gives up after closeTimeout when the peer never sends EOF", async () => {
  const { connection, peer } = withRawPeer({ closeTimeout: 20 });
  const pending = connection.call(0);
  await connection.close();
  await assertRejects(() => pending, ConnectionClosedError, "close() timed out after 20 ms");
  const closed = await connection.closed;
  assertInstanceOf(closed, ConnectionClosedError);
  await peer.untilPackets(3);
  assertEquals(peer.packets.map((p) => p.tag), [2, 1, 0]); // the request, ERQ, EOF
});

Deno.test("packets queued in one turn leave in one write", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 1 << 20 });
  const counting = new CountingChannel(a);
  const connection = new PacketConnection();
  new StreamTransport(counting, connection);
  const peer = new RawPeer();
  new StreamTransport(b, peer);
  const calls = Array.from({ length: 100 }, (_, i) => connection.submit(i, { payload: "x" }));
  await peer.untilPackets(100);
  assertEquals(counting.writes, 1);
  for (const p of peer.packets) peer.send(Packet.response(p.tag, true));
  await Promise.all(calls);
  connection.abort();
  await connection.closed;
});

Deno.test("packetGrace holds packets from later turns for the same write", async () => {
  const [a, b] = createMemoryChannelPair();
  const counting = new CountingChannel(a);
  const connection = new PacketConnection({ packetGrace: 60_000 });
  new StreamTransport(counting, connection);
  const peer = new RawPeer();
  new StreamTransport(b, peer);
  const first = connection.submit(0, { payload: "one" });
  await new Promise((resolve) => setTimeout(resolve, 0)); // a later turn
  const second = connection.submit(0, { payload: "two" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(counting.writes, 0, "held by the grace period");
  const closing = connection.close(); // flushes at once
  await peer.untilPackets(4);
  assertEquals(counting.writes, 1);
  assertEquals(peer.packets.map((p) => p.tag), [2, 3, 1, 0]);
  peer.send(Packet.response(2, true), Packet.response(3, true), Packet.EOF);
  await Promise.all([first, second, closing]);
});

Deno.test("submit waits while the transport has paused writing, then goes on", async () => {
  const [a, b] = createMemoryChannelPair({ capacity: 1024 });
  const connection = new PacketConnection({ maxInFlight: 100_000 });
  const transport = new StreamTransport(a, connection, { writeBufferLimits: { high: 4096 } });
  const peer = new RawPeer();
  const peerTransport = new StreamTransport(b, peer);
  peerTransport.pauseReading();
  const payload = new Uint8Array(1000);
  // Each packet is committed to the transport as it is sent, so the transport pauses writing
  // inside this loop as soon as it holds more than 4096 bytes: the submits after that wait.
  const calls = Array.from({ length: 200 }, () => connection.submit(0, { payload }));
  const sent = connection.inFlight;
  assertEquals(sent, 5, "five 1006-byte packets pass the high watermark, the rest wait");
  await new Promise((resolve) => setTimeout(resolve, 0));
  const later = Array.from({ length: 50 }, () => connection.submit(1, { payload }));
  await new Promise((resolve) => setTimeout(resolve, 0));
  const buffered = transport.getWriteBufferSize();
  assertEquals(connection.inFlight, sent, "the later ones wait");
  peerTransport.resumeReading();
  await peer.untilPackets(250);
  assert(buffered <= sent * 1006, `only the first ${sent} were queued, got ${buffered} bytes`);
  for (const p of peer.packets) peer.send(Packet.response(p.tag, true));
  await Promise.all([...calls, ...later]);
  connection.abort();
  await connection.closed;
});
